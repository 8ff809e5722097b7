"""The hook chain on every transport, with a real worker: what a hook changes at enqueue
reaches the worker, hooks wrap every run in order, a failing hook fails only its task,
and retries and time limits (themselves hooks) compose with user hooks."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from qtasks import QueueTasks
from qtasks.config import QueueConfig
from qtasks.core.status import TaskStatusEnum
from qtasks.hooks import CallNext, EnqueueCall, Hook, Run
from qtasks.testing import drain, worker_thread


class Journal(Hook):
    """Records every hook point it passes, with what it saw."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, Any]] = []
        self.lock = threading.Lock()

    def note(self, point: str, detail: Any = None) -> None:
        with self.lock:
            self.entries.append((point, detail))

    def points(self) -> list[str]:
        return [point for point, _ in self.entries]

    async def before_enqueue(self, call: EnqueueCall) -> None:
        self.note("before_enqueue", call.task_name)

    async def after_enqueue(self, call: EnqueueCall, envelope: Any) -> None:
        self.note("after_enqueue", envelope.id)

    async def worker_start(self, worker: Any) -> None:
        self.note("worker_start", worker.id)

    async def worker_stop(self, worker: Any) -> None:
        self.note("worker_stop", worker.id)

    async def execute(self, run: Run, call_next: CallNext) -> Any:
        self.note("execute", run.args)
        return await call_next(run)

    async def outcome(self, run: Run, outcome: Any, error: BaseException | None) -> Any:
        self.note("outcome", outcome.status)
        return outcome


@pytest.fixture
def make_app() -> Iterator[Callable[[str], QueueTasks]]:
    """Apps on the test's transport, closed at the end (their pools belong to this test)."""
    made: list[QueueTasks] = []

    def make(broker_url: str) -> QueueTasks:
        made.append(QueueTasks(broker_url=broker_url, config=QueueConfig(retry_backoff=0)))
        return made[-1]

    yield make
    for app in made:
        app.close()


def test_every_hook_point_fires_once_where_it_belongs(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    journal = app.add_hook(Journal())
    assert isinstance(journal, Journal)

    @app.task
    def double(x: int) -> int:
        return 2 * x

    record = double.add_task(21)
    assert journal.points() == ["before_enqueue", "after_enqueue"]
    assert drain(app) == 1
    assert journal.points()[2:] == ["worker_start", "execute", "outcome", "worker_stop"]
    assert journal.entries[3] == ("execute", (21,))
    assert journal.entries[4] == ("outcome", TaskStatusEnum.SUCCESS)
    final = app.get(record.uuid)
    assert final is not None and final.returning == 42


class Rewrite(Hook):
    """Changes calls before they are sent and values after they are computed."""

    async def before_enqueue(self, call: EnqueueCall) -> None:
        call.args = (*call.args, 100)
        call.priority = 5
        call.headers["tenant"] = "acme"

    async def execute(self, run: Run, call_next: CallNext) -> Any:
        assert run.envelope.headers["tenant"] == "acme"  # the header travelled with the task
        value = await call_next(run)
        return {"value": value, "tenant": run.envelope.headers["tenant"]}


def test_hooks_change_the_call_before_the_broker_and_the_value_after_the_task(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    app.add_hook(Rewrite())

    @app.task
    def add(a: int, b: int) -> int:
        return a + b

    record = add.add_task(1)
    assert record is not None and record.priority == 5
    assert drain(app) == 1
    final = app.get(record.uuid)
    assert final is not None and final.returning == {"value": 101, "tenant": "acme"}


def test_a_hook_refusing_an_enqueue_sends_nothing(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)

    class Refuse(Hook):
        async def before_enqueue(self, call: EnqueueCall) -> None:
            if call.kwargs.get("amount", 0) < 0:
                raise ValueError("negative amounts are refused")

    app.add_hook(Refuse())

    @app.task
    def pay(amount: int) -> int:
        return amount

    with pytest.raises(ValueError, match="negative"):
        pay.add_task(amount=-1)
    assert sum(app.count().values()) == 0


def test_an_after_enqueue_failure_is_logged_not_raised(
    broker_url: str, make_app: Callable[[str], QueueTasks], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(broker_url)

    class Flaky(Hook):
        async def after_enqueue(self, call: EnqueueCall, envelope: Any) -> None:
            raise ConnectionError("metrics server down")

    app.add_hook(Flaky())
    with caplog.at_level(logging.ERROR, logger="qtasks.hooks"):
        record = app.add_task("anything")
    assert record is not None  # the task is queued: raising now would invite a duplicate
    assert "Flaky failed after enqueuing task" in caplog.text


def test_a_failing_hook_fails_its_task_and_the_worker_goes_on(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)

    class Picky(Hook):
        async def execute(self, run: Run, call_next: CallNext) -> Any:
            if run.args == (13,):
                raise LookupError("unlucky")
            return await call_next(run)

    app.add_hook(Picky())

    @app.task(retry=2)
    def echo(x: int) -> int:
        return x

    bad, good = echo.add_task(13), echo.add_task(14)
    assert drain(app) >= 2
    failed, done = app.get(bad.uuid), app.get(good.uuid)
    assert done is not None and done.returning == 14
    # a hook's failure is the task's failure: retried like any, then an error naming the hook
    assert failed is not None and failed.status == TaskStatusEnum.RETRY.value
    dead = app.dead_letters()
    assert [d.uuid for d in dead] and "hook" in (dead[0].traceback or "")
    assert "Picky failed in execute: LookupError: unlucky" in (dead[0].traceback or "")


def test_user_hooks_see_retries_and_time_limits_decided_inside_them(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    journal = app.add_hook(Journal())
    attempts: list[int] = []

    @app.task(retry=1)
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("first attempt fails")
        return "ok"

    @app.task(max_time=0.2)
    async def slow() -> None:
        await asyncio.sleep(30)

    first, limited = flaky.add_task(), slow.add_task()
    with worker_thread(app):
        assert app.wait_result(first.uuid, timeout=30) is not None
        timed_out = app.wait_result(limited.uuid, timeout=30)
    assert timed_out is not None and timed_out.status == TaskStatusEnum.ERROR.value
    assert "TaskTimeoutError" in (timed_out.traceback or "")
    statuses = sorted(str(d) for p, d in journal.entries if p == "outcome")
    assert statuses == sorted(
        str(s) for s in (TaskStatusEnum.RETRY, TaskStatusEnum.SUCCESS, TaskStatusEnum.ERROR)
    )


def test_worker_start_failure_stops_the_worker_with_that_error(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)

    class NeedsConfig(Hook):
        async def worker_start(self, worker: Any) -> None:
            raise RuntimeError("MY_PLUGIN_TOKEN is not set")

    app.add_hook(NeedsConfig())
    app.add_task("waiting")
    with pytest.raises(RuntimeError, match="MY_PLUGIN_TOKEN"):
        drain(app)
    assert app.count().get(TaskStatusEnum.NEW.value) == 1  # still waiting for a worker
