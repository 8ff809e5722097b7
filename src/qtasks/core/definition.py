"""A task definition: the function and its options, independent of any app."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from qtasks.core.errors import ConfigurationError
from qtasks.core.names import check_name
from qtasks.core.unique import checked_for


class TaskKind(Enum):
    """How the worker must call the function."""

    SYNC = "sync"
    ASYNC = "async"
    SYNC_GENERATOR = "sync_generator"
    ASYNC_GENERATOR = "async_generator"

    @property
    def is_async(self) -> bool:
        return self in (TaskKind.ASYNC, TaskKind.ASYNC_GENERATOR)


def kind_of(func: Callable[..., Any]) -> TaskKind:
    """Classify a function; wrapped functions are unwrapped first."""
    target = inspect.unwrap(func)
    if inspect.isasyncgenfunction(target):
        return TaskKind.ASYNC_GENERATOR
    if inspect.iscoroutinefunction(target):
        return TaskKind.ASYNC
    if inspect.isgeneratorfunction(target):
        return TaskKind.SYNC_GENERATOR
    return TaskKind.SYNC


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskDefinition:
    """Everything the worker needs to run a task, and the defaults ``add_task`` applies."""

    name: str
    func: Callable[..., Any]
    kind: TaskKind
    queue: str = "default"
    priority: int = 0
    """Larger runs first."""
    echo: bool = False
    """Pass the task object as first argument (with ``.ctx``)."""
    max_time: float | None = None
    """Seconds after which the run is stopped and reported as an error."""
    retry: int = 0
    """How many times a failing run is re-enqueued."""
    retry_on_exc: tuple[type[BaseException], ...] | None = None
    """Only these exceptions (and their subclasses) are retried; ``None`` means any."""
    retry_backoff: float = 1.0
    """Base of the exponential backoff, in seconds (0 retries at once)."""
    retry_backoff_max: float = 300.0
    decode: Callable[[Any], Any] | None = None
    """Applied to the returned value before it is stored."""
    generate_handler: Callable[[Any], Any] | None = None
    """Applied to each item a generator task yields."""
    tags: tuple[str, ...] = ()
    description: str | None = None
    executor: str | type[Any] | None = None
    """``"thread"`` (sync default), ``"loop"``, ``"process"`` (a killable child process), or a
    QTasks ``TaskExecutor`` class (``qtasks.executors``) whose hooks run around the call."""
    middlewares_before: tuple[type[Any], ...] = ()
    """QTasks task middlewares run (by the task executor) before the call."""
    middlewares_after: tuple[type[Any], ...] = ()
    """QTasks task middlewares run (by the task executor) after the call."""
    acks_early: bool = False
    """At most once: a run whose worker is lost is failed, never run again."""
    unique: bool = False
    """Each call holds a unique key (the name and the arguments' digest) while it waits or
    runs: an equal call meanwhile gets the waiting task's record (:mod:`qtasks.core.unique`)."""
    unique_for: float = 0.0
    """Seconds after enqueue the key stays held even once the task finished."""
    schedule: Any = None
    """``@task(schedule=...)`` as given; the app that registers the task schedules it."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def awaiting(self) -> bool:
        """QTasks' name: the function is ``async`` (a coroutine or async generator function)."""
        return self.kind.is_async

    @property
    def generating(self) -> str | bool:
        """QTasks' name: ``"sync"`` or ``"async"`` for a generator task, else ``False``."""
        if self.kind is TaskKind.SYNC_GENERATOR:
            return "sync"
        if self.kind is TaskKind.ASYNC_GENERATOR:
            return "async"
        return False

    def should_retry(self, exc: BaseException, retries_left: int) -> bool:
        """True when this failure gets another attempt."""
        if retries_left <= 0:
            return False
        if self.retry_on_exc is None:
            return isinstance(exc, Exception)
        return isinstance(exc, self.retry_on_exc)


def importable_path(func: Callable[..., Any]) -> tuple[str, str]:
    """``(module, qualname)`` a child process imports ``func`` by (``executor="process"``)."""
    module, qualname = getattr(func, "__module__", None), getattr(func, "__qualname__", "")
    if not module or "<locals>" in qualname or module == "__main__":
        raise ConfigurationError(
            f"executor='process' needs a function importable by module path; "
            f"{module}.{qualname} is defined inside a function or in __main__"
        )
    return module, qualname


def build_definition(
    func: Callable[..., Any],
    *,
    name: str | None,
    queue: str,
    priority: int | None,
    default_priority: int,
    echo: bool,
    max_time: float | None,
    retry: int | None,
    retry_on_exc: Sequence[type[BaseException]] | None,
    retry_backoff: float,
    retry_backoff_max: float,
    decode: Callable[[Any], Any] | None,
    generate_handler: Callable[[Any], Any] | None,
    tags: Sequence[str] | None,
    description: str | None,
    executor: str | type[Any] | None,
    middlewares_before: Sequence[type[Any]] | None = None,
    middlewares_after: Sequence[type[Any]] | None = None,
    acks_early: bool = False,
    unique: bool = False,
    unique_for: float | None = None,
    schedule: Any = None,
    extra: dict[str, Any],
) -> TaskDefinition:
    """Validate options given to ``@task`` and build the definition (clear errors, early)."""
    task_name = check_name("task", name if name is not None else func.__name__)
    check_name("queue", queue)
    if max_time is not None and max_time <= 0:
        raise ConfigurationError(f"max_time of task {task_name!r} must be positive")
    if retry is not None and retry < 0:
        raise ConfigurationError(f"retry of task {task_name!r} must be >= 0")
    excs = tuple(retry_on_exc) if retry_on_exc is not None else None
    if excs is not None:
        for exc in excs:
            if not (isinstance(exc, type) and issubclass(exc, BaseException)):
                raise ConfigurationError(
                    f"retry_on_exc of task {task_name!r} must list exception classes, got {exc!r}"
                )
    if executor == "loop" and max_time is not None:
        raise ConfigurationError(
            f"task {task_name!r}: max_time cannot stop a sync function running on the event "
            "loop (executor='loop'); use the default thread executor"
        )
    if isinstance(executor, type):
        if not callable(getattr(executor, "execute", None)):
            raise ConfigurationError(
                f"executor of task {task_name!r}: a class must be a TaskExecutor "
                f"(qtasks.executors), {executor.__qualname__} has no execute()"
            )
    elif executor not in (None, "thread", "loop", "process"):
        raise ConfigurationError(
            f"executor of task {task_name!r} must be 'thread', 'loop', 'process' or a "
            f"TaskExecutor class (qtasks.executors), got {executor!r}"
        )
    if executor == "process":
        importable_path(func)
    try:
        hold = 0.0 if unique_for is None else checked_for(unique_for)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"task {task_name!r}: {exc}") from None
    if executor == "process" and echo:
        raise ConfigurationError(
            f"task {task_name!r}: an echo=True task talks to its app, which stays in the "
            "worker; executor='process' cannot pass it to the child process"
        )
    if executor == "process" and kind_of(func).is_async:
        raise ConfigurationError(
            f"task {task_name!r}: executor='process' runs sync functions; this one is async"
        )
    return TaskDefinition(
        name=task_name,
        func=func,
        kind=kind_of(func),
        queue=queue,
        priority=default_priority if priority is None else int(priority),
        echo=echo,
        max_time=max_time,
        retry=retry or 0,
        retry_on_exc=excs,
        retry_backoff=retry_backoff,
        retry_backoff_max=retry_backoff_max,
        decode=decode,
        generate_handler=generate_handler,
        tags=tuple(tags or ()),
        description=description if description is not None else inspect.getdoc(func),
        executor=executor,
        middlewares_before=tuple(middlewares_before or ()),
        middlewares_after=tuple(middlewares_after or ()),
        acks_early=acks_early,
        unique=bool(unique) or unique_for is not None,
        unique_for=hold,
        schedule=schedule,
        extra=dict(extra),
    )


class TaskOptionsView:
    """QTasks' task attributes (``task.priority``, ``self.retry``, …), read from ``definition``.

    Task handles and the ``self`` of ``echo=True`` tasks both offer them.
    """

    definition: TaskDefinition

    @property
    def priority(self) -> int:
        return self.definition.priority

    @property
    def echo(self) -> bool:
        return self.definition.echo

    @property
    def max_time(self) -> float | None:
        return self.definition.max_time

    @property
    def retry(self) -> int:
        return self.definition.retry

    @property
    def retry_on_exc(self) -> list[type[BaseException]] | None:
        excs = self.definition.retry_on_exc
        return None if excs is None else list(excs)

    @property
    def decode(self) -> Callable[[Any], Any] | None:
        return self.definition.decode

    @property
    def generate_handler(self) -> Callable[[Any], Any] | None:
        return self.definition.generate_handler

    @property
    def tags(self) -> list[str]:
        return list(self.definition.tags)

    @property
    def description(self) -> str | None:
        return self.definition.description

    @property
    def executor(self) -> str | type[Any] | None:
        return self.definition.executor

    @property
    def middlewares_before(self) -> list[type[Any]]:
        return list(self.definition.middlewares_before)

    @property
    def middlewares_after(self) -> list[type[Any]]:
        return list(self.definition.middlewares_after)

    @property
    def extra(self) -> dict[str, Any]:
        return self.definition.extra
