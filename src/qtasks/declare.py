"""``@task`` options, described once and shared by apps, routers and ``shared_task``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar

from qtasks.config import QueueConfig
from qtasks.core.definition import TaskDefinition, build_definition, kind_of
from qtasks.core.errors import ConfigurationError
from qtasks.executors.sync_task_executor import SyncTaskExecutor


class TaskOptions(TypedDict, total=False):
    """Keyword options of ``@app.task(...)``; any other keyword is kept in ``extra``."""

    priority: int | None
    """Default priority of each call; larger runs first."""
    queue: str | None
    """Queue the task is sent to (default: the app's ``default_queue``)."""
    echo: bool
    """Pass the task itself (with ``.ctx``) as the first argument."""
    max_time: float | None
    """Seconds after which a run is stopped and reported as an error."""
    retry: int | None
    """How many times a failing run is re-enqueued, with exponential backoff."""
    retry_on_exc: Sequence[type[BaseException]] | None
    """Only these exceptions (and subclasses) are retried."""
    retry_backoff: float | None
    """Base delay of the first retry in seconds (doubled each time, full jitter)."""
    retry_backoff_max: float | None
    """Longest delay between retries."""
    decode: Callable[[Any], Any] | None
    """Applied to the return value before it is stored."""
    generate_handler: Callable[[Any], Any] | None
    """Applied to each item a generator task yields."""
    tags: Sequence[str] | None
    description: str | None
    executor: str | type[Any] | None
    """``"thread"`` (default for sync functions), ``"loop"`` (tiny, non-blocking ones),
    ``"process"`` (CPU-bound or must be stoppable: ``max_time`` kills the child process), or a
    ``qtasks.executors`` TaskExecutor subclass whose hooks run around the call."""
    middlewares_before: Sequence[type[Any]] | None
    """QTasks task middlewares: ``m(task_executor)()`` runs before the call."""
    middlewares_after: Sequence[type[Any]] | None
    """QTasks task middlewares: ``m(task_executor)()`` runs after the call."""
    acks_early: bool
    """At most once: if the worker dies mid-run the task is failed, not run again."""
    unique: bool
    """While a call waits or runs, an equal call (same arguments) makes no second task and
    gets the first one's record (``record.deduplicated``); see docs/unique.md."""
    unique_for: float | None
    """Seconds after enqueue an equal call stays deduplicated even once the first finished
    (implies ``unique``)."""
    schedule: Any
    """Run the task periodically: a cron string (``"0 3 * * *"``), seconds, an APScheduler
    trigger, or a dict of ``app.schedule()``'s keywords (docs/schedules.md)."""
    extra: dict[str, Any] | None
    """Free-form metadata kept on the definition."""


_KNOWN = set(TaskOptions.__annotations__)

H = TypeVar("H")


@dataclass(frozen=True, slots=True)
class Declaration:
    """``@task`` as written, kept so a router's or shared task's options are resolved
    against the config of the app that registers it."""

    func: Callable[..., Any]
    name: str | None
    options: dict[str, Any]

    def build(self, config: QueueConfig) -> TaskDefinition:
        return definition_from_options(self.func, self.name, self.options, config)


def bare_or_named(name: Any, declare: Callable[[Callable[..., Any], str | None], H]) -> Any:
    """``@x.task`` (``name`` is the function) or ``@x.task("name", ...)`` (returns a decorator)."""
    if callable(name):
        return declare(name, None)
    return lambda func: declare(func, name)


def definition_from_options(
    func: Callable[..., Any], name: str | None, options: dict[str, Any], config: QueueConfig
) -> TaskDefinition:
    """Build a task definition from ``@task`` arguments; unknown keywords land in ``extra``."""
    extra = dict(options.get("extra") or {})
    extra.update({k: v for k, v in options.items() if k not in _KNOWN})
    backoff = options.get("retry_backoff")
    backoff_max = options.get("retry_backoff_max")
    return build_definition(
        func,
        name=name,
        queue=options.get("queue") or config.default_queue,
        priority=options.get("priority"),
        default_priority=config.task_default_priority,
        echo=bool(options.get("echo", False)),
        max_time=options.get("max_time"),
        retry=options.get("retry"),
        retry_on_exc=options.get("retry_on_exc"),
        retry_backoff=config.retry_backoff if backoff is None else backoff,
        retry_backoff_max=config.retry_backoff_max if backoff_max is None else backoff_max,
        decode=options.get("decode"),
        generate_handler=options.get("generate_handler"),
        tags=options.get("tags"),
        description=options.get("description"),
        executor=_checked_executor(func, options.get("executor")),
        middlewares_before=options.get("middlewares_before"),
        middlewares_after=options.get("middlewares_after"),
        acks_early=bool(options.get("acks_early", False)),
        unique=bool(options.get("unique", False)),
        unique_for=options.get("unique_for"),
        schedule=options.get("schedule"),
        extra=extra,
    )


def _checked_executor(func: Callable[..., Any], executor: Any) -> Any:
    """A ``SyncTaskExecutor`` runs its hooks on a worker thread: it cannot call async code."""
    if (
        isinstance(executor, type)
        and issubclass(executor, SyncTaskExecutor)
        and kind_of(func).is_async
    ):
        raise ConfigurationError(
            f"task {getattr(func, '__name__', func)!r}: {executor.__qualname__} is a "
            "SyncTaskExecutor, which runs sync functions; use an AsyncTaskExecutor"
        )
    return executor
