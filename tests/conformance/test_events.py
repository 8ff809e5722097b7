"""``app.events.on.<event>`` on every transport, with a real worker: each event fires
once per thing that happens, in the worker, with QTasks' keyword arguments; sync and
async handlers alike; a handler that raises never fails its task or the worker."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from qtasks import QueueTasks
from qtasks.core.definition import TaskDefinition
from qtasks.events import EVENT_NAMES, AsyncEvents, SyncEvents
from qtasks.executors.base import TaskBroker
from qtasks.testing import drain
from qtasks.worker import Worker
from qtasks.workers import AsyncWorker

#: The arguments each event's handlers get.
KWARGS = {
    "worker_running": {"worker", "number"},
    "worker_stopping": {"worker", "number"},
    "task_running": {"worker", "task_func", "task_broker"},
    "task_stopping": {"worker", "task_func", "task_broker", "model"},
    "task_success": {"worker", "task_func", "task_broker", "model"},
    "task_error": {"worker", "task_func", "task_broker", "model"},
    "task_cancel": {"worker", "task_func", "task_broker", "model"},
}


class Recorder:
    """Handlers for every worker and task event, each noting what it was called with."""

    def __init__(self, app: QueueTasks, *, use_async: bool) -> None:
        self.calls: list[tuple[str, dict[str, Any], bool]] = []
        self.lock = threading.Lock()
        for name in KWARGS:
            register = getattr(app.events.on, name)
            register(self._async_handler(name) if use_async else self._sync_handler(name))

    def note(self, name: str, kwargs: dict[str, Any]) -> None:
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        with self.lock:
            self.calls.append((name, kwargs, on_loop))

    def _sync_handler(self, name: str) -> Callable[..., None]:
        def handler(**kwargs: Any) -> None:
            self.note(name, kwargs)

        return handler

    def _async_handler(self, name: str) -> Callable[..., Any]:
        async def handler(**kwargs: Any) -> None:
            self.note(name, kwargs)

        return handler

    def of_task(self, task_id: Any) -> list[str]:
        return [
            name
            for name, kwargs, _ in self.calls
            if "task_broker" in kwargs and kwargs["task_broker"].uuid == task_id
        ]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for called, kwargs, _ in self.calls if called == name]


@pytest.fixture
def make_app(broker_url: str) -> Iterator[Callable[..., QueueTasks]]:
    made: list[QueueTasks] = []

    def make(**kwargs: Any) -> QueueTasks:
        app = QueueTasks("events", broker_url=broker_url, **kwargs)
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


@pytest.mark.parametrize("use_async", [False, True], ids=["sync-handlers", "async-handlers"])
def test_every_event_fires_once_in_the_worker(
    make_app: Callable[..., QueueTasks], use_async: bool
) -> None:
    app = make_app()
    recorder = Recorder(app, use_async=use_async)

    @app.task
    def add(a: int, b: int) -> int:
        return a + b

    @app.task
    def fails() -> None:
        raise ValueError("boom")

    @app.task(echo=True)
    def gives_up(self: Any) -> None:
        self.ctx.cancel("enough")

    ok, bad, cancelled = add.add_task(2, 3), fails.add_task(), gives_up.add_task()
    assert recorder.calls == []  # nothing fires in the caller
    assert drain(app) == 3

    assert recorder.of_task(ok.uuid) == ["task_running", "task_stopping", "task_success"]
    assert recorder.of_task(bad.uuid) == ["task_running", "task_stopping", "task_error"]
    assert recorder.of_task(cancelled.uuid) == [
        "task_running",
        "task_stopping",
        "task_cancel",
    ]
    names = [name for name, _, _ in recorder.calls]
    assert (names[0], names[-1]) == ("worker_running", "worker_stopping")
    assert len(recorder.calls) == 2 + 3 * 3
    for name, kwargs, on_loop in recorder.calls:
        assert set(kwargs) == KWARGS[name], name
        assert on_loop is use_async  # sync handlers run on a thread, off the worker's loop
    workers = {id(kwargs["worker"]) for _, kwargs, _ in recorder.calls}
    assert len(workers) == 1
    assert isinstance(recorder.calls[0][1]["worker"], Worker)
    assert recorder.named("worker_running")[0]["number"] == 0

    (success,) = recorder.named("task_success")
    assert isinstance(success["task_func"], TaskDefinition) and success["task_func"].name == "add"
    task_broker = success["task_broker"]
    assert isinstance(task_broker, TaskBroker)
    assert (task_broker.name, task_broker.args) == ("add", [2, 3])
    assert success["model"].status == "success" and success["model"].returning == "5"
    (error,) = recorder.named("task_error")
    assert error["model"].status == "error" and "boom" in error["model"].traceback
    assert recorder.named("task_cancel")[0]["model"].status == "cancel"


def test_a_retried_run_fires_stopping_and_only_the_last_fires_error(
    make_app: Callable[..., QueueTasks],
) -> None:
    app = make_app()
    recorder = Recorder(app, use_async=True)

    @app.task(retry=2, retry_backoff=0.0)
    def flaky() -> None:
        raise ValueError("again")

    flaky.add_task()
    drain(app)
    runs = [k["model"].status for k in recorder.named("task_stopping")]
    assert runs == ["retry", "retry", "error"]
    assert len(recorder.named("task_running")) == 3
    assert len(recorder.named("task_error")) == 1
    assert recorder.named("task_success") == [] and recorder.named("task_cancel") == []


def test_a_raising_handler_fails_neither_the_task_nor_the_worker(
    make_app: Callable[..., QueueTasks], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    later: list[str] = []

    @app.events.on.worker_running
    def broken_start(**kwargs: Any) -> None:
        raise RuntimeError("worker_running handler")

    @app.events.on.task_running()
    async def broken_running(**kwargs: Any) -> None:
        raise RuntimeError("task_running handler")

    @app.events.on.task_success()
    def broken_success(**kwargs: Any) -> None:
        raise SystemExit(3)

    @app.events.on.task_success()
    def still_called(**kwargs: Any) -> None:
        later.append(kwargs["task_func"].name)

    @app.task
    def add(a: int, b: int) -> int:
        return a + b

    first = add.add_task(1, 2)
    second = add.add_task(3, 4)
    with caplog.at_level("ERROR", logger="qtasks.events"):
        assert drain(app) == 2
    for record in (app.get(first.uuid), app.get(second.uuid)):
        assert record is not None and record.status == "success"
    assert app.get(second.uuid).returning == 7  # type: ignore[union-attr]
    assert later == ["add", "add"]  # the next handler still ran
    failed = [r.getMessage() for r in caplog.records if r.name == "qtasks.events"]
    assert len(failed) == 1 + 2 + 2
    assert any("broken_success" in message for message in failed)


def test_events_given_to_the_app_or_its_worker_are_used(broker_url: str) -> None:
    mine = AsyncEvents()
    app = QueueTasks("given", broker_url=broker_url, events=mine)
    adopted = SyncEvents()
    other = QueueTasks("adopted", broker_url=broker_url, worker=AsyncWorker(events=adopted))
    try:
        assert app.events is mine and other.events is adopted
        names: list[str] = []
        mine.on.task_success()(lambda **kw: names.append(kw["task_func"].name))

        @app.task
        def hello() -> str:
            return "hi"

        hello.add_task()
        drain(app)
        assert names == ["hello"]
    finally:
        app.close()
        other.close()


def test_a_handler_added_after_a_worker_ran_still_fires() -> None:
    app = QueueTasks("late", broker_url="memory://late-handler")

    @app.task
    def ping() -> str:
        return "pong"

    ping.add_task()
    drain(app)  # no task handler yet: the hook is out of the task's chain
    seen: list[str] = []
    app.events.on.task_success(lambda **kw: seen.append(kw["model"].returning))
    ping.add_task()
    drain(app)
    assert seen == ['"pong"']


def test_decorators_bare_or_called_return_the_function() -> None:
    events = SyncEvents()

    def handler(**kwargs: Any) -> str:
        return "me"

    assert events.on.task_error(handler) is handler
    assert events.on.task_error()(handler) is handler
    assert events.on._events["task_error"] == [handler, handler]
    with pytest.raises(ValueError, match="unknown event"):
        events.on.add("task_exploded", handler)
    assert set(EVENT_NAMES) >= set(KWARGS) | {"starting", "stopping"}


def test_fire_by_hand_sync_and_async() -> None:
    got: list[tuple[str, Any]] = []

    async def async_handler(**kwargs: Any) -> None:
        got.append(("async", kwargs["x"]))

    def sync_handler(**kwargs: Any) -> None:
        got.append(("sync", kwargs["x"]))

    sync_events = SyncEvents()
    sync_events.on.starting(async_handler)
    sync_events.on.starting(sync_handler)
    sync_events.fire("starting", x=1)
    async_events = AsyncEvents()
    async_events.on.stopping(sync_handler)
    async_events.on.stopping(async_handler)
    asyncio.run(async_events.fire("stopping", x=2))
    sync_events.fire("stopping", x=3)  # no handler: nothing happens
    assert got == [("async", 1), ("sync", 1), ("sync", 2), ("async", 2)]
