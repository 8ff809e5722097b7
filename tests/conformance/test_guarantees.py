"""The promises of DESIGN.md "Semantics" that go beyond the happy path, on every transport:
dead letters, cancellation, at-most-once (``acks_early``), retention of failures.

Each test is named after the promise it proves (docs/reliability.md lists them).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import qtasks.asyncio
from qtasks import CancelState, QueueTasks, TaskStatusEnum
from qtasks.config import QueueConfig
from qtasks.core.errors import ConfigurationError, TaskNotFoundError, exception_path
from qtasks.testing import drain, worker_thread

from . import proc_tasks

pytestmark = pytest.mark.timeout(60)


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    """Poll a condition in a test (never a fixed sleep), failing clearly on timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def app(broker_url: str) -> Iterator[QueueTasks]:
    app = QueueTasks(broker_url=broker_url, config=QueueConfig(lease_seconds=2.0))
    yield app
    app.close()


# dead letters ------------------------------------------------------------------------------


def test_failed_task_is_kept_as_dead_letter_after_last_attempt(app: QueueTasks) -> None:
    healed = threading.Event()

    @app.task(retry=1, retry_backoff=0)
    def fragile(x: int) -> int:
        if not healed.is_set():
            raise ValueError(f"bad {x}")
        return x

    first = fragile.add_task(7)
    drain(app)
    drain(app)  # the retry is delayed into the broker, not slept in the worker
    dead = app.dead_letters()
    assert [d.task_name for d in dead] == ["fragile"]
    assert dead[0].status == TaskStatusEnum.ERROR
    assert "ValueError: bad 7" in (dead[0].traceback or "")
    assert dead[0].args == (7,)
    assert dead[0].retry_parent_uuid is not None  # the last attempt of the chain
    assert app.get(first.uuid).status == TaskStatusEnum.RETRY

    healed.set()
    assert app.requeue_dead(task_name="fragile") == 1
    assert app.dead_letters() == []
    drain(app)
    again = app.get(dead[0].uuid)
    assert again is not None and again.status == TaskStatusEnum.SUCCESS and again.returning == 7


def test_unknown_task_is_dead_letter_and_runs_once_requeued(app: QueueTasks) -> None:
    sent = app.add_task("not_deployed_yet", 1, 2)
    drain(app)
    (dead,) = app.dead_letters()
    assert dead.uuid == sent.uuid
    assert exception_path(TaskNotFoundError("x")) in (dead.traceback or "")

    @app.task(name="not_deployed_yet")
    def deployed(a: int, b: int) -> int:
        return a + b

    assert app.requeue_dead(sent.uuid) == 1
    drain(app)
    record = app.get(sent.uuid)
    assert record is not None and record.status == TaskStatusEnum.SUCCESS
    assert record.returning == 3


def test_dead_letters_filter_and_purge(app: QueueTasks) -> None:
    @app.task(queue="q1")
    def boom() -> None:
        raise RuntimeError("boom")

    @app.task(queue="q2")
    def bang() -> None:
        raise RuntimeError("bang")

    booms = [boom.add_task() for _ in range(3)]
    bang.add_task()
    drain(app, queues=["q1", "q2"])
    assert len(app.dead_letters()) == 4
    assert len(app.dead_letters(limit=2)) == 2
    assert {d.task_name for d in app.dead_letters(queue="q2")} == {"bang"}
    assert len(app.dead_letters(task_name="boom")) == 3

    with pytest.raises(ValueError, match="all=True"):
        app.purge_dead()
    assert app.purge_dead(booms[0].uuid) == 1
    assert app.get(booms[0].uuid) is None
    assert app.purge_dead(task_name="boom") == 2
    assert app.purge_dead(all=True) == 1
    assert app.dead_letters() == []


def test_dead_letters_outlive_results(broker_url: str) -> None:
    app = QueueTasks(broker_url=broker_url, config=QueueConfig(result_ttl=0.3, dead_letter_ttl=600))

    @app.task
    def ok() -> int:
        return 1

    @app.task
    def fails() -> None:
        raise OSError("disk")

    fine, failed = ok.add_task(), fails.add_task()
    drain(app)
    wait_for(lambda: app.get(fine.uuid) is None)
    assert app.get(failed.uuid) is not None
    assert [d.uuid for d in app.dead_letters()] == [failed.uuid]
    app.close()


def test_successful_and_cancelled_tasks_are_not_dead_letters(app: QueueTasks) -> None:
    @app.task(echo=True)
    def stops(self: Any) -> None:
        self.ctx.cancel("not needed")

    @app.task
    def fine() -> None:
        return None

    stops.add_task()
    fine.add_task()
    drain(app)
    assert app.dead_letters() == []
    assert app.requeue_dead(all=True) == 0


# cancellation -------------------------------------------------------------------------------


def test_cancel_waiting_task_never_runs(app: QueueTasks) -> None:
    ran: list[int] = []

    @app.task
    def work(x: int) -> None:
        ran.append(x)

    later = work(1).add_task(countdown=0.3)
    now = work.add_task(2)
    assert app.cancel(later.uuid, "changed my mind") is CancelState.CANCELLED
    assert app.cancel(now.uuid) is CancelState.CANCELLED
    time.sleep(0.4)  # the delayed one is due now: it must still not run
    drain(app)
    assert ran == []
    record = app.get(later.uuid)
    assert record is not None and record.status == TaskStatusEnum.CANCEL
    assert record.cancel_reason == "changed my mind"


def test_cancel_finished_or_unknown_task_changes_nothing(app: QueueTasks) -> None:
    @app.task
    def quick() -> int:
        return 5

    done = quick.add_task()
    drain(app)
    assert app.cancel(done.uuid) is CancelState.FINISHED
    assert app.get(done.uuid).status == TaskStatusEnum.SUCCESS
    assert app.cancel("0190a8e8-0000-7000-8000-000000000000") is CancelState.UNKNOWN


def test_cancel_running_async_task_stops_it(app: QueueTasks) -> None:
    started = threading.Event()

    @app.task
    async def long_wait() -> str:
        started.set()
        await asyncio.sleep(30)
        return "finished"

    sent = long_wait.add_task()
    with worker_thread(app):
        assert started.wait(10)
        assert app.cancel(sent.uuid, "user pressed stop") is CancelState.REQUESTED
        record = app.wait_result(sent.uuid, timeout=10)
    assert record is not None and record.status == TaskStatusEnum.CANCEL
    assert record.cancel_reason == "user pressed stop"


def test_cancel_running_sync_task_seen_through_ctx(app: QueueTasks) -> None:
    started = threading.Event()

    @app.task(echo=True)
    def polite(self: Any) -> str:
        started.set()
        deadline = time.monotonic() + 20
        while not self.ctx.cancel_requested and time.monotonic() < deadline:
            time.sleep(0.01)
        return "noticed" if self.ctx.cancel_requested else "never told"

    sent = polite.add_task()
    with worker_thread(app):
        assert started.wait(10)
        assert app.cancel(sent.uuid) is CancelState.REQUESTED
        record = app.wait_result(sent.uuid, timeout=15)
    assert record is not None and record.status == TaskStatusEnum.CANCEL


def test_cancel_running_sync_task_that_ignores_it_is_marked_when_it_ends(app: QueueTasks) -> None:
    started, release = threading.Event(), threading.Event()

    @app.task
    def stubborn() -> str:
        started.set()
        release.wait(20)
        return "done anyway"

    sent = stubborn.add_task()
    with worker_thread(app) as worker:
        assert started.wait(10)
        assert app.cancel(sent.uuid, "too late") is CancelState.REQUESTED
        wait_for(lambda: str(sent.uuid) in worker._cancels)  # told at its next renewal
        release.set()
        record = app.wait_result(sent.uuid, timeout=10)
    assert record is not None and record.status == TaskStatusEnum.CANCEL
    assert record.cancel_reason == "too late"


async def test_async_app_cancel_and_dead_letters(broker_url: str) -> None:
    app = qtasks.asyncio.QueueTasks(broker_url=broker_url)

    @app.task
    async def nope() -> None:
        raise KeyError("k")

    failed = await nope.add_task()
    waiting = await nope().add_task(countdown=60)
    assert await app.cancel(waiting.uuid) is CancelState.CANCELLED
    await asyncio.to_thread(drain, app)
    (dead,) = await app.dead_letters()
    assert dead.uuid == failed.uuid
    assert await app.requeue_dead(failed.uuid) == 1
    assert await app.purge_dead(all=True) == 0  # requeued: no longer dead
    await app.close()


# executor="process" -------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_process_executor_time_limit_kills_the_child(app: QueueTasks, tmp_path: Path) -> None:
    app.task("square_sum", executor="process")(proc_tasks.square_sum)
    app.task("spin", executor="process", max_time=1.0)(proc_tasks.spin)
    app.task("pids", executor="process")(proc_tasks.pids)
    marker = tmp_path / "pid.txt"
    ok = app.add_task("square_sum", 1000)
    spun = app.add_task("spin", str(marker))
    first_pid = app.add_task("pids")
    drain(app, concurrency=2)
    assert app.get(ok.uuid).returning == proc_tasks.square_sum(1000)
    record = app.get(spun.uuid)
    assert record is not None and record.status == TaskStatusEnum.ERROR
    assert "TaskTimeoutError" in (record.traceback or "")
    child = int(marker.read_text())
    wait_for(lambda: not _alive(child), timeout=10)  # killed for real, not abandoned
    assert app.get(first_pid.uuid).returning not in (os.getpid(), child)


def test_process_executor_errors_cross_back_and_retry(app: QueueTasks) -> None:
    app.task(
        "fail_subclass",
        executor="process",
        retry=1,
        retry_backoff=0,
        retry_on_exc=[proc_tasks.Retryable],
    )(proc_tasks.fail_subclass)
    app.task("crash", executor="process")(proc_tasks.crash)
    failing = app.add_task("fail_subclass")
    app.add_task("crash")
    drain(app)
    drain(app)
    assert app.get(failing.uuid).status == TaskStatusEnum.RETRY  # the subclass matched
    dead = {d.task_name: d for d in app.dead_letters()}
    assert "MoreRetryable: try again" in (dead["fail_subclass"].traceback or "")
    assert "child process died (exit code 3)" in (dead["crash"].traceback or "")


def test_process_executor_rejects_what_cannot_cross(app: QueueTasks) -> None:
    def nested() -> None:
        return None

    with pytest.raises(ConfigurationError, match="importable by module path"):
        app.task(executor="process")(nested)
    with pytest.raises(ConfigurationError, match="echo=True"):
        app.task("sq", executor="process", echo=True)(proc_tasks.square_sum)


@pytest.mark.timeout(60)
def test_process_tasks_after_a_killed_one_are_still_heard(app: QueueTasks, tmp_path: Path) -> None:
    """The child a time limit kills leaves no reader behind: the next child may get the
    same pipe fd, and must still be heard (it once hung for ever)."""
    app.task("spin", executor="process", max_time=0.5)(proc_tasks.spin)
    app.task("square_sum", executor="process")(proc_tasks.square_sum)
    spun = app.add_task("spin", str(tmp_path / "pid.txt"))
    after = [app.add_task("square_sum", n) for n in range(5)]
    drain(app, concurrency=1)
    assert app.get(spun.uuid).status == TaskStatusEnum.ERROR
    expected = [proc_tasks.square_sum(n) for n in range(5)]
    assert [app.get(t.uuid).returning for t in after] == expected
