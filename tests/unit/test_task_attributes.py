"""QTasks' task attributes, call options, executor classes and pydantic rules, without a broker."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import uuid
from typing import Any

import pydantic
import pytest

import qtasks.asyncio
from qtasks import QueueTasks
from qtasks.core.errors import ConfigurationError
from qtasks.executors import AsyncTaskExecutor, BaseTaskExecutor, SyncTaskExecutor
from qtasks.testing import drain
from qtasks.worker.pydantic_args import TaskArgumentsError, bind_models, dump_models


class Shout:
    """A stand-in QTasks task middleware (only its class is stored here)."""


class Point(pydantic.BaseModel):
    x: int
    y: int = 0


class Label(pydantic.BaseModel):
    text: str


def memory_app() -> QueueTasks:
    return QueueTasks(broker_url=f"memory://{uuid.uuid4().hex}")


def test_a_task_handle_shows_its_options() -> None:
    app = memory_app()

    @app.task(
        priority=4,
        max_time=9.5,
        retry=2,
        retry_on_exc=[KeyError],
        decode=str,
        tags=["billing"],
        description="Charge a card.",
        executor="thread",
        middlewares_before=[Shout],
        middlewares_after=[Shout],
        team="payments",
    )
    def charge(amount: int) -> int:
        return amount

    assert charge.task_name == "charge"
    assert (charge.priority, charge.echo, charge.max_time, charge.retry) == (4, False, 9.5, 2)
    assert charge.retry_on_exc == [KeyError] and charge.decode is str
    assert charge.tags == ["billing"] and charge.description == "Charge a card."
    assert charge.executor == "thread"
    assert charge.middlewares_before == [Shout] and charge.middlewares_after == [Shout]
    assert charge.extra == {"team": "payments"}


def test_defaults_of_the_attributes() -> None:
    app = qtasks.asyncio.QueueTasks(broker_url=f"memory://{uuid.uuid4().hex}")

    @app.task
    async def plain() -> None:
        """Does nothing."""

    assert (plain.priority, plain.retry, plain.retry_on_exc, plain.executor) == (0, 0, None, None)
    assert plain.tags == [] and plain.middlewares_before == [] and plain.extra == {}
    assert plain.description == "Does nothing."


def test_calling_a_task_keeps_call_options_out_of_its_kwargs() -> None:
    app = memory_app()

    @app.task
    def area(w: int, h: int = 1) -> int:
        return w * h

    call = area(2, h=3, priority=7, timeout=50)
    assert call.args == (2,) and call.kwargs == {"h": 3}
    assert call.priority == 7 and call.timeout == 50 and call.task_name == "area"
    renamed = area(2, task_name="other")
    assert renamed.task_name == "other" and renamed.kwargs == {}
    assert renamed.with_args(5).task_name == "other" and renamed.with_args(5).args == (2, 5)


def test_a_call_enqueues_with_its_priority_and_task_name() -> None:
    app = memory_app()

    @app.task
    def area(w: int, h: int = 1) -> int:
        return w * h

    @app.task
    def perimeter(w: int, h: int = 1) -> int:
        return 2 * (w + h)

    record = area(2, h=3, priority=7).add_task()
    assert record is not None and record.priority == 7 and record.kwargs == {"h": 3}
    assert area(2, priority=7).add_task(priority=1).priority == 1  # type: ignore[union-attr]
    other = area(2, 3, task_name="perimeter").add_task()
    by_handle = area.add_task(4, task_name="perimeter")
    assert other is not None and by_handle is not None
    assert other.task_name == by_handle.task_name == "perimeter"
    assert other.kwargs == by_handle.kwargs == {}
    drain(app)
    assert app.get(other.uuid).returning == 10  # type: ignore[union-attr]
    assert app.get(by_handle.uuid).returning == 10  # type: ignore[union-attr]


def test_executor_accepts_task_executor_classes_and_checks_them() -> None:
    app = memory_app()

    class Mine(AsyncTaskExecutor):
        pass

    @app.task(executor=Mine)
    def job() -> None:
        pass

    assert job.executor is Mine

    class NotAnExecutor:
        pass

    with pytest.raises(ConfigurationError, match="TaskExecutor"):
        app.task(name="bad", executor=NotAnExecutor)(lambda: None)
    with pytest.raises(ConfigurationError, match="'thread', 'loop', 'process'"):
        app.task(name="worse", executor="fiber")(lambda: None)

    class Blocking(SyncTaskExecutor):
        pass

    async def coro_task() -> None:
        pass

    with pytest.raises(ConfigurationError, match="SyncTaskExecutor"):
        app.task(executor=Blocking)(coro_task)


def test_an_executor_outside_a_worker_says_so() -> None:
    app = memory_app()

    @app.task
    def job() -> int:
        return 1

    from qtasks.executors import TaskBroker

    broker = TaskBroker(priority=0, uuid=uuid.uuid4(), name="job")
    executor: BaseTaskExecutor = SyncTaskExecutor(job.definition, broker)
    with pytest.raises(RuntimeError, match="inside a qtasks worker"):
        executor.execute()


def test_task_logger_is_a_child_of_the_worker_logger() -> None:
    app = memory_app()
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(f"{record.name}: {record.getMessage()}")

    @app.task(echo=True)
    def chatty(self: Any) -> None:
        self.ctx.get_logger().info("own name")
        self.ctx.get_logger("imports").info("chosen name")

    worker_log = logging.getLogger("qtasks.worker")
    handler = Collect()
    old_level = worker_log.level
    worker_log.addHandler(handler)
    worker_log.setLevel(logging.INFO)  # what configuring the worker's log looks like
    try:
        chatty.add_task()
        drain(app)
    finally:
        worker_log.removeHandler(handler)
        worker_log.setLevel(old_level)
    assert "qtasks.worker.task.chatty: own name" in seen
    assert "qtasks.worker.task.imports: chosen name" in seen


def bound(func: Any, *args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return bind_models(func, args, kwargs, skip_first=False, task_name="t")


def test_a_model_parameter_is_built_from_kwargs_then_positionals() -> None:
    def draw(point: Point, color: str = "red") -> None: ...

    assert bound(draw, x=1, y=2) == ((Point(x=1, y=2),), {})
    assert bound(draw, 1, 2) == ((Point(x=1, y=2),), {})
    assert bound(draw, 1, y=2, color="blue") == ((Point(x=1, y=2),), {"color": "blue"})
    assert bound(draw, 1, 2, "blue") == ((Point(x=1, y=2), "blue"), {})
    assert bound(draw, point={"x": 5}) == ((Point(x=5),), {})
    assert bound(draw, {"x": 5, "y": 6}) == ((Point(x=5, y=6),), {})  # a chain step's input


def test_parameters_before_a_model_keep_their_positionals() -> None:
    def move(steps: int, point: Point, *, label: Label) -> None: ...

    args, kwargs = bound(move, 3, 1, 2, text="here")
    assert args == (3, Point(x=1, y=2)) and kwargs == {"label": Label(text="here")}


def test_echo_self_is_not_a_model_parameter() -> None:
    def with_self(self: Any, point: Point) -> None: ...

    args, kwargs = bind_models(with_self, (7,), {}, skip_first=True, task_name="t")
    assert args == (Point(x=7),) and kwargs == {}


def test_a_function_without_models_is_left_alone() -> None:
    def plain(a: int, b: dict[str, int]) -> None: ...

    args: tuple[Any, ...] = (1, {"x": 1})
    kwargs: dict[str, Any] = {"c": 2}
    assert bind_models(plain, args, kwargs, skip_first=False, task_name="t") == (args, kwargs)


def test_invalid_arguments_name_the_parameter_and_keep_pydantics_message() -> None:
    def draw(point: Point) -> None: ...

    with pytest.raises(TaskArgumentsError) as info:
        bound(draw, x="left")
    message = str(info.value)
    assert "task 't'" in message and "Point" in message and "'point'" in message
    assert "valid integer" in message and isinstance(info.value, ValueError)


def test_returned_models_become_json_data() -> None:
    assert dump_models(Label(text="a")) == {"text": "a"}
    assert dump_models([Label(text="a"), 2]) == [{"text": "a"}, 2]
    assert dump_models({"kept": 1}) == {"kept": 1}


def test_qtasks_works_without_pydantic_installed(tmp_path: Any) -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["pydantic"] = None  # import pydantic now raises ImportError
        from qtasks import QueueTasks
        from qtasks.testing import drain

        app = QueueTasks(broker_url="memory://no-pydantic")

        @app.task
        def add(a: int, b: int) -> int:
            return a + b

        record = add.add_task(1, 2)
        drain(app)
        print(app.get(record.uuid).returning)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"


def test_an_optional_model_passed_as_none_stays_none() -> None:
    def maybe(point: Point | None = None) -> None: ...

    assert bound(maybe, point=None) == ((None,), {})
    assert bound(maybe, point={"x": 1}) == ((Point(x=1),), {})
    assert bound(maybe) == ((), {})  # given nothing: its default
