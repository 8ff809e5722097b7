"""A worker killed with SIGKILL mid-task: another worker reruns the task once its lease expires."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from qtasks import QueueTasks

from .conftest import Workers, read_lines, wait_until

#: Every promise here holds on each transport that runs worker processes.
pytestmark = pytest.mark.parametrize(
    "db_url", ["sqlite", "redis", "redis-cluster", "postgres"], indirect=True
)

SHORT_LEASE = {"QTASKS_LEASE_SECONDS": "1.5"}


def test_kill_9_mid_task_is_recovered_by_another_worker(
    tmp_path: Path, workers: Workers, client: QueueTasks
) -> None:
    markers = [tmp_path / f"runs-{n}.txt" for n in range(3)]
    worker_a = workers.start(env=SHORT_LEASE)
    tasks = [client.tasks["marked_sleep"].add_task(str(m), 3.0, 0.2) for m in markers]

    for marker in markers:  # all three running at once on worker A
        wait_until(lambda m=marker: read_lines(m), timeout=30, what="worker A to start the tasks")
        assert read_lines(marker) == [str(worker_a.pid)]
    for task in tasks:
        assert task is not None
        running = client.get(task.uuid)
        assert running is not None and running.status == "process" and running.attempt == 1

    killed_at = time.monotonic()
    worker_a.send(signal.SIGKILL)
    assert worker_a.wait_exit(10) == -signal.SIGKILL

    worker_b = workers.start(env=SHORT_LEASE)
    for task, marker in zip(tasks, markers, strict=True):
        assert task is not None
        done = client.wait_result(task.uuid, timeout=30)
        assert done is not None, "the task was never finished after its worker died"
        assert done.status == "success", done.traceback
        assert done.returning == 2  # the second run
        assert done.attempt == 2
        assert done.worker_id is not None and f":{worker_b.pid}:" in done.worker_id
        assert read_lines(marker) == [str(worker_a.pid), str(worker_b.pid)]
    recovered_in = time.monotonic() - killed_at
    # lease 1.5s + worker start-up + a 0.2s rerun; generous for a loaded machine
    assert recovered_in < 15, f"recovery took {recovered_in:.1f}s"
    assert worker_b.alive()


def test_task_longer_than_its_lease_is_not_stolen(
    tmp_path: Path, workers: Workers, client: QueueTasks
) -> None:
    """Lease renewal: a 4s task under a 1.5s lease runs once, while another worker watches."""
    marker = tmp_path / "runs.txt"
    pair = [workers.start(env=SHORT_LEASE), workers.start(env=SHORT_LEASE)]
    for worker in pair:
        worker.wait_ready()
    task = client.tasks["marked_sleep"].add_task(str(marker), 4.0)
    assert task is not None
    done = client.wait_result(task.uuid, timeout=60)
    assert done is not None and done.status == "success", done
    assert done.attempt == 1
    assert len(read_lines(marker)) == 1, "the task was run again while still running"


def test_poison_pill_is_failed_after_max_attempts(
    tmp_path: Path, workers: Workers, client: QueueTasks
) -> None:
    """A task that kills every worker running it ends as an error, not an endless loop."""
    env = {"QTASKS_LEASE_SECONDS": "1", "QTASKS_MAX_ATTEMPTS": "2"}
    marker = tmp_path / "runs.txt"
    task = client.tasks["die_hard"].add_task(str(marker))
    assert task is not None

    for attempt in (1, 2):
        victim = workers.start(env=env)
        assert victim.wait_exit(30) == -signal.SIGKILL
        assert len(read_lines(marker)) == attempt

    survivor = workers.start(env=env)
    done = client.wait_result(task.uuid, timeout=30)
    assert done is not None
    assert done.status == "error"
    assert done.traceback is not None and "WorkerLostError" in done.traceback
    assert done.attempt == 2
    assert len(read_lines(marker)) == 2
    assert survivor.alive()


def test_acks_early_task_is_not_run_again_after_kill_9(
    tmp_path: Path, workers: Workers, client: QueueTasks
) -> None:
    """At most once: the worker dies mid-run; the task fails as lost, it never runs twice."""
    marker = tmp_path / "runs.txt"
    worker_a = workers.start(env=SHORT_LEASE)
    task = client.tasks["marked_sleep_once"].add_task(str(marker), 30.0)
    assert task is not None
    wait_until(lambda: read_lines(marker), timeout=30, what="worker A to start the task")
    worker_a.send(signal.SIGKILL)
    assert worker_a.wait_exit(10) == -signal.SIGKILL

    workers.start(env=SHORT_LEASE)
    done = client.wait_result(task.uuid, timeout=30)
    assert done is not None and done.status == "error", done
    assert "at most once" in (done.traceback or "")
    assert read_lines(marker) == [str(worker_a.pid)]
    assert [d.uuid for d in client.dead_letters()] == [task.uuid]
