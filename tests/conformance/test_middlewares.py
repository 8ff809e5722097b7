"""QTasks task middlewares on every transport: app-level (``app.add_middleware``) and
task-level (``middlewares_before`` / ``middlewares_after``) ones run once each, in
order, around the call; they may change the arguments and the result; a task naming
its own executor class runs its middlewares itself, never twice."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from qtasks import QueueTasks
from qtasks.core.errors import ConfigurationError
from qtasks.executors import AsyncTaskExecutor, SyncTaskExecutor
from qtasks.executors.base import BaseTaskExecutor
from qtasks.middlewares import BaseMiddleware, TaskMiddleware
from qtasks.testing import drain

seen: list[str] = []
seen_lock = threading.Lock()


def note(entry: str) -> None:
    with seen_lock:
        seen.append(entry)


@pytest.fixture
def make_app() -> Iterator[Callable[[str], QueueTasks]]:
    made: list[QueueTasks] = []
    seen.clear()

    def make(broker_url: str) -> QueueTasks:
        made.append(QueueTasks(broker_url=broker_url))
        return made[-1]

    yield make
    for app in made:
        app.close()


class Tagged(TaskMiddleware):
    """Notes its tag; built with keyword arguments by ``app.add_middleware``."""

    def __init__(self, task_executor: BaseTaskExecutor, tag: str = "?") -> None:
        super().__init__(task_executor)
        self.tag = tag

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        note(self.tag)


class AsyncTagged(Tagged):
    async def __call__(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        note(self.tag)


class TaskBefore(TaskMiddleware):
    def __call__(self, *args: Any, **kwargs: Any) -> None:
        note("task-before")


class TaskAfter(TaskMiddleware):
    async def __call__(self, *args: Any, **kwargs: Any) -> None:
        note("task-after")


def test_app_and_task_middlewares_run_once_each_in_order(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    app.add_middleware(Tagged, tag="app-before-1")
    app.add_middleware(AsyncTagged, position="before", tag="app-before-2")
    app.add_middleware(AsyncTagged, position="after", tag="app-after")

    @app.task(middlewares_before=[TaskBefore], middlewares_after=[TaskAfter])
    def work() -> str:
        note("call")
        return "done"

    @app.task
    def plain() -> str:
        note("plain")
        return "plain"

    record = work.add_task()
    assert drain(app) == 1
    assert seen == [
        "app-before-1",
        "app-before-2",
        "task-before",
        "call",
        "task-after",
        "app-after",
    ]
    final = app.get(record.uuid)
    assert final is not None and final.returning == "done"
    seen.clear()
    plain.add_task()
    drain(app)
    assert seen == ["app-before-1", "app-before-2", "plain", "app-after"]


class Shout(TaskMiddleware):
    """Before the call: upper-cases the first argument (after the echo self)."""

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        executor = self.task_executor
        executor._args = [executor._args[0], executor._args[1].upper()]
        executor._kwargs = {**executor._kwargs, "times": 2}


class Wrap(TaskMiddleware):
    """After the call: wraps the result."""

    async def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.task_executor._result = {"wrapped": self.task_executor._result}


def test_middlewares_change_the_arguments_before_and_the_result_after(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    app.add_middleware(Wrap, position="after")

    @app.task(echo=True, middlewares_before=[Shout])
    def repeat(self: Any, word: str, times: int = 1) -> str:
        assert self.ctx.task_uuid is not None
        return word * times

    record = repeat.add_task("ab")
    drain(app)
    final = app.get(record.uuid)
    assert final is not None and final.returning == {"wrapped": "ABAB"}


class Replace(TaskMiddleware):
    """Returns another task executor: the next middlewares and the call get it."""

    async def __call__(self, *args: Any, **kwargs: Any) -> BaseTaskExecutor:
        other = AsyncTaskExecutor(self.task_executor.task_func, self.task_executor.task_broker)
        other._args, other._kwargs = [41], {}
        return other


class SeesReplacement(TaskMiddleware):
    def __call__(self, *args: Any, **kwargs: Any) -> None:
        note(f"sees {self.task_executor._args}")


class ReturnsItsExecutor(TaskMiddleware):
    """QTasks' example middleware: hands back the executor it was given."""

    async def __call__(self, *args: Any, **kwargs: Any) -> BaseTaskExecutor:
        return self.task_executor


def test_a_middleware_may_return_the_task_executor_to_go_on_with(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)

    @app.task(middlewares_before=[ReturnsItsExecutor, Replace, SeesReplacement])
    def inc(x: int) -> int:
        return x + 1

    @app.task(middlewares_before=[ReturnsItsExecutor], middlewares_after=[ReturnsItsExecutor])
    def same(x: int) -> int:
        return x

    replaced, kept = inc.add_task(0), same.add_task(5)
    drain(app)
    assert seen == ["sees [41]"]
    got = [app.get(r.uuid) for r in (replaced, kept)]
    assert [r.returning for r in got if r is not None] == [42, 5]


class CountingAsync(AsyncTaskExecutor):
    async def execute_middlewares_before(self) -> None:
        note("executor-before")
        await super().execute_middlewares_before()


class CountingSync(SyncTaskExecutor):
    def execute_middlewares_after(self) -> None:
        super().execute_middlewares_after()
        note("executor-after")


@pytest.mark.parametrize("executor", [CountingAsync, CountingSync])
def test_a_task_with_its_own_executor_runs_its_middlewares_itself_once(
    broker_url: str, make_app: Callable[[str], QueueTasks], executor: type[Any]
) -> None:
    app = make_app(broker_url)
    app.add_middleware(Tagged, tag="app-before")
    app.add_middleware(Tagged, position="after", tag="app-after")

    @app.task(executor=executor, middlewares_before=[TaskBefore], middlewares_after=[TaskAfter])
    def work() -> int:
        note("call")
        return 1

    record = work.add_task()
    drain(app)
    inner = (
        ["executor-before", "task-before", "call", "task-after"]
        if executor is CountingAsync
        else ["task-before", "call", "task-after", "executor-after"]
    )
    assert seen == ["app-before", *inner, "app-after"]
    final = app.get(record.uuid)
    assert final is not None and final.returning == 1


class Broken(TaskMiddleware):
    def __call__(self, *args: Any, **kwargs: Any) -> None:
        if self.task_executor.task_func.name == "victim":
            raise RuntimeError("middleware broke")


def test_a_failing_middleware_fails_its_task_and_the_worker_goes_on(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    app.add_middleware(Broken)

    @app.task
    def victim() -> int:
        return 1

    @app.task
    def survivor() -> int:
        return 2

    failed, passed = victim.add_task(), survivor.add_task()
    drain(app, concurrency=1)
    final = app.get(failed.uuid)
    assert final is not None and final.status == "error" and final.traceback is not None
    assert "hook TaskMiddlewares failed in execute" in final.traceback
    assert "RuntimeError: middleware broke" in final.traceback
    ok = app.get(passed.uuid)
    assert ok is not None and ok.returning == 2


def test_add_middleware_checks_what_it_is_given(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    with pytest.raises(ConfigurationError, match="'before', 'after'"):
        app.add_middleware(Tagged, position="around")

    class NotATaskMiddleware(BaseMiddleware):
        pass

    with pytest.raises(TypeError, match="TaskMiddleware"):
        app.add_middleware(NotATaskMiddleware)
