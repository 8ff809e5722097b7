"""The monitor on every transport, with a real worker: its heartbeat (alive while it runs,
``stopped`` after), what it runs now, per-minute counts of what it finished, queue
depths, listings and a task's retry chain."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import qtasks.asyncio
from qtasks import QueueTasks
from qtasks.monitor import AsyncMonitor, Monitor, jsonable
from qtasks.testing import drain, worker_thread

gate = threading.Event()


def wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not true within {timeout}s: {predicate}")


@pytest.fixture
def app(broker_url: str) -> Iterator[QueueTasks]:
    app = QueueTasks(name="shop", broker_url=broker_url)

    @app.task(queue="mail")
    def send(n: int) -> int:
        return n

    @app.task
    def boom() -> None:
        raise ValueError("boom")

    @app.task(retry=2, retry_backoff=0)
    def flaky() -> None:
        raise RuntimeError("again")

    @app.task
    def hold() -> str:
        gate.wait(30)
        return "held"

    gate.clear()
    yield app
    gate.set()
    app.close()


def test_a_running_worker_is_seen_with_what_it_runs(app: QueueTasks) -> None:
    monitor = Monitor(app)
    held = app.add_task("hold")
    waiting = [app.add_task("send", n) for n in range(3)]
    with worker_thread(app, queues=["default"], concurrency=2) as worker:
        view = wait_for(
            lambda: [w for w in monitor.workers() if str(held.uuid) in w.info.running]
        )[0]
        assert view.state == "alive" and view.info.id == worker.id
        assert view.info.queues == ("default",) and view.info.concurrency == 2
        depths = {q.name: q.depth for q in monitor.queues()}
        assert depths["default"].running == 1
        assert depths["mail"].ready == 3  # this worker does not take from mail
        listed = monitor.tasks(status="process")
        assert [t.uuid for t in listed] == [held.uuid]
        assert {t.uuid for t in monitor.tasks(queue="mail")} == {t.uuid for t in waiting}
        gate.set()
        wait_for(lambda: app.get(held.uuid).status == "success")
    [stopped] = [w for w in monitor.workers() if w.info.id == worker.id]
    assert stopped.state == "stopped" and stopped.info.done == 1


def test_outcomes_are_counted_per_minute_and_queue(app: QueueTasks) -> None:
    for n in range(4):
        app.add_task("send", n)
    app.add_task("boom")
    app.add_task("flaky")
    for _ in range(3):  # the retries are due at once
        drain(app)
    monitor = Monitor(app)
    queues = {q.name: q for q in monitor.queues(minutes=5)}
    assert queues["mail"].total("succeeded") == 4
    assert queues["mail"].total("enqueued") == 4
    assert queues["default"].total("failed") == 2  # boom, and flaky's last attempt
    assert queues["default"].total("retried") == 2
    assert queues["default"].total("enqueued") == 2  # boom, flaky (retries count as retried)
    assert queues["default"].failure_rate == 1.0 and queues["mail"].failure_rate == 0.0
    assert len(queues["mail"].minutes) == 5  # every minute of the window, zeros included
    workers = monitor.workers()
    assert len(workers) == 3 and all(w.state == "stopped" for w in workers)
    assert sum(w.info.done for w in workers) == 8
    assert sum(w.info.failed for w in workers) == 2


def test_a_task_detail_follows_its_retry_chain(app: QueueTasks) -> None:
    first = app.add_task("flaky")
    for _ in range(3):
        drain(app)
    monitor = Monitor(app)
    detail = monitor.task(first.uuid)
    assert detail is not None
    assert [t.status for t in detail.chain] == ["retry", "retry", "error"]
    assert detail.chain[0].uuid == first.uuid
    last = monitor.task(detail.chain[-1].uuid)
    assert last is not None and [t.uuid for t in last.chain] == [t.uuid for t in detail.chain]
    assert last.error_type == "builtins.RuntimeError"
    assert len(last.worker_ids) == 1 and "RuntimeError: again" in (last.task.traceback or "")
    assert monitor.task("0190a8e8-0000-7000-8000-000000000000") is None
    overview = monitor.overview()
    assert [t.uuid for t in overview.failures] == [detail.chain[-1].uuid]
    assert overview.counts["retry"] == 2 and overview.counts["error"] == 1
    data = jsonable(overview)  # every field JSON-ready
    assert data["failures"][0]["uuid"] == str(detail.chain[-1].uuid)


def test_listings_check_what_they_are_given(app: QueueTasks) -> None:
    monitor = Monitor(app)
    with pytest.raises(ValueError, match="unknown status"):
        monitor.tasks(status="done")
    with pytest.raises(ValueError, match="limit"):
        monitor.tasks(limit=0)
    with pytest.raises(ValueError, match="not a task id"):
        monitor.tasks(before="nope")
    with pytest.raises(ValueError, match="not a task id"):
        monitor.task("nope")


async def test_the_async_app_reads_the_same(broker_url: str) -> None:
    app = qtasks.asyncio.QueueTasks(name="shop", broker_url=broker_url)

    @app.task
    async def ping() -> str:
        return "pong"

    task = await app.add_task("ping")
    monitor = AsyncMonitor(app)
    assert [t.uuid for t in await monitor.tasks()] == [task.uuid]
    assert [(q.name, q.depth.ready) for q in await monitor.queues()] == [("default", 1)]
    await app.close()
