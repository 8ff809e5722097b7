"""SIGTERM: finish running tasks within the grace period, release the rest, lose nothing."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from qtasks import QueueTasks

from .conftest import STOPPING_TEXT, Workers, read_lines, wait_until

#: Every promise here holds on each transport that runs worker processes.
pytestmark = pytest.mark.parametrize(
    "db_url", ["sqlite", "redis", "redis-cluster", "postgres"], indirect=True
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_lets_the_running_task_finish_and_leaves_queued_ones(
    sig: int, tmp_path: Path, workers: Workers, client: QueueTasks
) -> None:
    marker = tmp_path / "runs.txt"
    worker = workers.start(env={"QTASKS_MAX_TASKS_PROCESS": "1"})
    # 2s: long enough to enqueue more and send the signal while it runs
    slow = client.tasks["marked_sleep"].add_task(str(marker), 2.0)
    assert slow is not None
    wait_until(lambda: read_lines(marker), timeout=30, what="the slow task to start")

    # the only slot is busy: these stay queued
    queued = [client.tasks["add"].add_task(i, i) for i in range(3)]

    worker.send(sig)
    assert worker.wait_exit(30) == 0

    finished = client.get(slow.uuid)
    assert finished is not None
    assert finished.status == "success", finished.traceback
    assert finished.returning == 1
    for q in queued:
        assert q is not None
        record = client.get(q.uuid)
        assert record is not None, "a queued task was lost"
        assert record.status == "new"
        assert record.attempt == 0
    assert client.count() == {"success": 1, "new": 3}


def test_sigterm_past_grace_period_releases_the_task_to_another_worker(
    tmp_path: Path, workers: Workers, client: QueueTasks
) -> None:
    marker = tmp_path / "runs.txt"
    worker_a = workers.start("--concurrency", "1", env={"QTASKS_GRACE_PERIOD": "0.5"})
    # 30s on the first run (far past the grace period), 0.2s when run again
    task = client.tasks["marked_sleep"].add_task(str(marker), 30.0, 0.2)
    assert task is not None
    wait_until(lambda: read_lines(marker), timeout=30, what="the long task to start")

    sent = time.monotonic()
    worker_a.send(signal.SIGTERM)
    assert worker_a.wait_exit(20) == 0
    stopped_in = time.monotonic() - sent
    assert stopped_in < 10, f"the worker took {stopped_in:.1f}s to stop with a 0.5s grace period"

    released = client.get(task.uuid)
    assert released is not None
    assert released.status == "new"
    assert released.attempt == 0

    worker_b = workers.start()
    done = client.wait_result(task.uuid, timeout=30)
    assert done is not None
    assert done.status == "success", done.traceback
    assert done.returning == 2
    assert done.attempt == 1
    assert done.worker_id is not None and f":{worker_b.pid}:" in done.worker_id
    assert read_lines(marker) == [str(worker_a.pid), str(worker_b.pid)]


def test_second_sigterm_stops_at_once_and_releases_the_task(
    tmp_path: Path, workers: Workers, client: QueueTasks
) -> None:
    marker = tmp_path / "runs.txt"
    worker = workers.start("--concurrency", "1")  # default grace period: 30s
    task = client.tasks["marked_sleep"].add_task(str(marker), 30.0)
    assert task is not None
    wait_until(lambda: read_lines(marker), timeout=30, what="the long task to start")

    sent = time.monotonic()
    worker.send(signal.SIGTERM)
    wait_until(
        lambda: STOPPING_TEXT in " ".join(worker.log().split()),
        timeout=10,
        what="the worker to start its graceful stop",
    )
    worker.send(signal.SIGTERM)
    assert worker.wait_exit(20) == 0
    assert time.monotonic() - sent < 10

    released = client.get(task.uuid)
    assert released is not None
    assert (released.status, released.attempt) == ("new", 0)
