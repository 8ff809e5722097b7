"""Schedules and unique tasks across real processes, on SQLite, Redis and PostgreSQL:
three scheduler processes, two of them killed with SIGKILL at random moments, fire every
tick exactly once; eight producer processes racing one unique key make one task; a key
held by the task of a worker killed with SIGKILL is freed by lease recovery."""

from __future__ import annotations

import collections
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qtasks import QueueTasks
from tests.conftest import stored_ticks

from .conftest import HERE, Workers, read_lines, wait_until

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.parametrize("db_url", ["sqlite", "redis", "postgres"], indirect=True),
]

RUN_SECONDS = 20.0


def _ticks(db_url: str) -> list[float]:
    app = QueueTasks(name="schedapp", broker_url=db_url)
    try:
        return stored_ticks(app)
    finally:
        app.close()


def test_three_schedulers_fire_each_tick_once_while_two_are_killed(
    workers: Workers, db_url: str
) -> None:
    timers = [workers.start(command="timer", target="schedapp:app") for _ in range(3)]
    for proc in timers:
        wait_until(lambda p=proc: "firing" in p.log(), timeout=30, what=f"{proc.name} to start")
    wait_until(lambda: _ticks(db_url), timeout=30, what="a first tick")
    started = time.monotonic()
    rng = random.Random()
    victims = rng.sample(timers, 2)
    kill_at = sorted(rng.uniform(2.0, RUN_SECONDS - 5.0) for _ in victims)
    for victim, at in zip(victims, kill_at, strict=True):
        time.sleep(max(0.0, started + at - time.monotonic()))
        victim.send(signal.SIGKILL)
        assert victim.wait_exit(10) == -signal.SIGKILL
    time.sleep(max(0.0, started + RUN_SECONDS - time.monotonic()))
    (survivor,) = [p for p in timers if p not in victims]
    assert survivor.alive(), survivor.log()
    survivor.send(signal.SIGTERM)
    assert survivor.wait_exit(15) == 0, survivor.log()

    counts = collections.Counter(_ticks(db_url))
    doubled = {tick: n for tick, n in counts.items() if n > 1}
    assert not doubled, f"ticks fired more than once: {doubled}"
    first, last = int(min(counts)), int(max(counts))
    missing = set(range(first, last + 1)) - {int(t) for t in counts}
    assert not missing, f"ticks never fired: {sorted(missing)}"
    assert len(counts) >= RUN_SECONDS - 2
    assert all(t == int(t) for t in counts)  # on the second, as the crontab says


def test_eight_producer_processes_racing_one_key_make_one_task(
    workers: Workers, db_url: str
) -> None:
    start_at = time.time() + 3.0  # every producer imported and connected by then
    env = workers.env()
    producers = [
        subprocess.Popen(
            [sys.executable, str(HERE / "schedapp.py"), repr(start_at)],
            env=env,
            cwd=str(HERE),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=60)[0].decode() for p in producers]
    assert all(p.returncode == 0 for p in producers), outputs
    lines = [out.split() for out in outputs]
    assert len({line[0] for line in lines}) == 1, outputs  # one task, the same uuid for all
    assert [line[1] for line in lines].count("False") == 1, outputs  # one made it
    app = QueueTasks(name="schedapp", broker_url=db_url)
    try:
        assert app.count().get("new", 0) == 1
    finally:
        app.close()


def test_a_key_held_by_a_killed_workers_task_is_freed_by_lease_recovery(
    tmp_path: Path, workers: Workers, client: QueueTasks
) -> None:
    marker = tmp_path / "runs.txt"
    once = {"QTASKS_LEASE_SECONDS": "1.5", "QTASKS_MAX_ATTEMPTS": "1"}
    victim = workers.start(env=once)
    sleeper = client.tasks["marked_sleep"]
    held = sleeper.add_task(str(marker), 60.0, unique_key="report:7")
    assert held is not None and not held.deduplicated
    wait_until(lambda: read_lines(marker), timeout=30, what="the worker to start the task")
    victim.send(signal.SIGKILL)
    assert victim.wait_exit(10) == -signal.SIGKILL
    while_lost = sleeper.add_task(str(marker), 60.0, unique_key="report:7")
    assert while_lost is not None and while_lost.deduplicated  # its lease still runs
    assert while_lost.uuid == held.uuid and while_lost.status == "process"
    workers.start(env=once)  # recovers the lease: at max_attempts=1 the task fails
    lost = client.wait_result(held.uuid, timeout=30)
    assert lost is not None and lost.status == "error"
    again = sleeper.add_task(str(marker), 0.0, unique_key="report:7")
    assert again is not None and not again.deduplicated and again.uuid != held.uuid
    done = client.wait_result(again.uuid, timeout=30)
    assert done is not None and done.status == "success"
