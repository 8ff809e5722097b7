"""What the command line shows of a running system, with real worker processes on every
server transport: ``workers`` (alive, then stopped, then dead after kill -9), ``tasks
list|show`` with full uuids and ``--json``, ``status --json`` and ``status --watch``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from qtasks import QueueTasks

from .conftest import HERE, Workers, wait_until

pytestmark = pytest.mark.parametrize("db_url", ["sqlite", "redis", "postgres"], indirect=True)


def cli(workers: Workers, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qtasks", "-A", "procapp:app", *args],
        env=workers.env(),
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def as_json(workers: Workers, *args: str) -> Any:
    done = cli(workers, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_workers_alive_stopped_and_dead(workers: Workers, client: QueueTasks) -> None:
    first = workers.start()
    second = workers.start()
    first.wait_ready()
    second.wait_ready()

    def states() -> dict[int, str]:
        return {w["pid"]: w["state"] for w in as_json(workers, "workers")}

    assert wait_until(
        lambda: states() == {first.pid: "alive", second.pid: "alive"},
        timeout=30,
        what="both workers alive",
    )
    table = cli(workers, "workers")
    assert table.returncode == 0 and "2 alive" in table.stdout
    first.send(signal.SIGTERM)
    assert first.wait_exit(30) == 0
    assert states()[first.pid] == "stopped"
    second.kill()  # kill -9: no goodbye; its heartbeat expires
    assert wait_until(lambda: states()[second.pid] == "dead", timeout=30, what="shown dead")


def test_tasks_list_and_show(workers: Workers, client: QueueTasks) -> None:
    ok = client.tasks["add"].add_task(2, 3)
    bad = client.add_task("fail.text", "the disk is full")
    worker = workers.start("--burst")
    assert worker.wait_exit(60) == 0, worker.log()
    later = client.tasks["add"].add_task(5, 5)  # waiting: no worker runs now
    assert ok is not None and bad is not None and later is not None
    listed = as_json(workers, "tasks", "list")
    assert [t["uuid"] for t in listed] == [str(later.uuid), str(bad.uuid), str(ok.uuid)]
    assert [t["status"] for t in listed] == ["new", "error", "success"]
    errors = as_json(workers, "tasks", "list", "--status", "error")
    assert [t["uuid"] for t in errors] == [str(bad.uuid)]
    table = cli(workers, "tasks", "list", "--limit", "2")
    assert table.returncode == 0, table.stderr
    for task in (later, bad):
        assert str(task.uuid) in table.stdout  # whole, copyable
    assert f"--before {bad.uuid}" in table.stdout
    page = as_json(workers, "tasks", "list", "--limit", "2", "--before", str(bad.uuid))
    assert [t["uuid"] for t in page] == [str(ok.uuid)]
    shown = cli(workers, "tasks", "show", str(bad.uuid))
    assert shown.returncode == 0 and "the disk is full" in shown.stdout
    assert "Traceback (most recent call last)" in shown.stdout
    detail = as_json(workers, "tasks", "show", str(ok.uuid))
    assert detail["task"]["returning"] == 5 and len(detail["worker_ids"]) == 1
    missing = cli(workers, "tasks", "show", "0190a8e8-0000-7000-8000-000000000000")
    assert missing.returncode == 1 and "no task" in missing.stderr
    typo = cli(workers, "tasks", "show", "nope")
    assert typo.returncode == 2 and "not a task id" in typo.stderr


def test_status_json_and_watch(workers: Workers, client: QueueTasks) -> None:
    client.tasks["add"].add_tasks([(i, i) for i in range(3)])
    counts = as_json(workers, "status")
    assert counts["new"] == 3
    worker = workers.start()
    worker.wait_ready()
    assert wait_until(
        lambda: as_json(workers, "status")["success"] == 3, timeout=30, what="3 successes"
    )
    started = time.monotonic()
    watch = cli(workers, "status", "--watch", "--count", "2", "--interval", "0.2")
    assert watch.returncode == 0, watch.stderr
    assert time.monotonic() - started < 30
    screen = watch.stdout
    assert "queues" in screen and "default" in screen and "workers" in screen
    assert f":{worker.pid}:" in screen and "alive" in screen
    both = cli(workers, "status", "--watch", "--json")
    assert both.returncode == 2
    worker.send(signal.SIGTERM)
    assert worker.wait_exit(30) == 0
