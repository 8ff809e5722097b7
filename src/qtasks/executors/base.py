"""QTasks' ``BaseTaskExecutor``: hooks around a task's call, driven by our one engine.

``@app.task(executor=MyExecutor)`` takes a subclass of
:class:`~qtasks.executors.AsyncTaskExecutor` (hooks are coroutines, run on the
worker's event loop) or :class:`~qtasks.executors.SyncTaskExecutor` (hooks are
plain methods, run with the task on a worker thread). The worker builds one per
run, as ``MyExecutor(task_func=..., task_broker=..., log=..., plugins=...)``, and
awaits its ``execute()``, which calls, in QTasks' documented order,
``execute_middlewares_before()``, ``before_execute()``, ``run_task()`` (for a
generator task ``run_task_gen(generator)``), ``after_execute()``,
``execute_middlewares_after()`` and ``decode()``. Override any of them.

What differs from QTasks, on purpose:

- ``self._args`` / ``self._kwargs`` already hold the echo ``self`` and the pydantic
  models when the hooks run (the engine builds them once for every task);
- ``run_task()`` calls the function through the engine, so ``max_time``, the
  thread pool and cancellation work as for any task;
- ``decode()`` returns the value to store (``decode=`` applied), not a JSON string:
  the engine encodes it;
- plugins' ``task_executor_*`` triggers are not fired by the executor: the plugin hook
  fires them once, around ``execute()``, for every task (``plugins`` is kept for
  signature compatibility; see ``docs/extending/plugins.md``);
- the task's own middlewares run in ``execute_middlewares_before/after`` (only for a
  task naming its executor class; app-level ones are run by the middleware hook).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from qtasks.core.envelope import Envelope

if TYPE_CHECKING:
    from qtasks.core.definition import TaskDefinition


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskBroker:
    """QTasks' ``TaskPrioritySchema``: the run as the broker delivered it."""

    priority: int
    uuid: UUID
    name: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> TaskBroker:
        return cls(
            priority=envelope.priority,
            uuid=UUID(envelope.id),
            name=envelope.task_name,
            args=list(envelope.args),
            kwargs=dict(envelope.kwargs),
            created_at=envelope.created_at,
            updated_at=envelope.created_at,
        )


class Engine(Protocol):
    """What the worker lends a task executor to call back into (one per run)."""

    def run_function(self, args: list[Any], kwargs: dict[str, Any]) -> Awaitable[Any]:
        """Run the task function as the worker runs any task (``max_time`` applies)."""

    def collect(self, items: Any) -> Awaitable[list[Any]]:
        """Collect a generator's items, ``generate_handler`` applied (``max_time`` applies)."""

    def call(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Call the function here, on the current worker thread (sync executors)."""

    def collect_sync(self, items: Iterable[Any]) -> list[Any]:
        """Collect a sync generator's items here, on the current worker thread."""

    def resolve(self, value: Any) -> Any:
        """From a worker thread: the value, awaited on the worker's loop if it is awaitable."""

    def result_value(self, value: Any) -> Any:
        """The value to store for a returned one (a pydantic model as its ``model_dump``)."""


class BaseTaskExecutor(ABC):
    """The shape every task executor has; subclass ``SyncTaskExecutor``/``AsyncTaskExecutor``."""

    def __init__(
        self,
        task_func: TaskDefinition,
        task_broker: TaskBroker,
        log: logging.Logger | None = None,
        plugins: dict[str, list[Any]] | None = None,
    ) -> None:
        """
        :param task_func: the task's definition (QTasks' ``TaskExecSchema``: ``name``,
            ``func``, ``echo``, ``max_time``, ``decode``, ``generating``, ``awaiting``, …).
        :param task_broker: this run (``uuid``, ``name``, ``priority``, ``args``, ``kwargs``).
        :param log: parent logger (the worker passes ``qtasks.worker``); ``self.log`` is its
            child named after the class. Default parent: ``qtasks.worker.executor``.
        :param plugins: accepted for QTasks compatibility (plugins run in the plugin hook).
        """
        self.task_func = task_func
        self.task_broker = task_broker
        self._args: list[Any] = list(task_broker.args)
        self._kwargs: dict[str, Any] = dict(task_broker.kwargs)
        self._result: Any = None
        self.echo: Any = None
        base = log if log is not None else logging.getLogger("qtasks.worker.executor")
        self.log = base.getChild(type(self).__name__)
        self.plugins = plugins or {}
        self._engine_ref: Engine | None = None

    def _prepare(self, args: list[Any], kwargs: dict[str, Any], echo: Any, engine: Engine) -> None:
        """Called by the worker before ``execute()``: the call's built arguments."""
        self._args, self._kwargs, self.echo, self._engine_ref = args, kwargs, echo, engine

    @property
    def _engine(self) -> Engine:
        if self._engine_ref is None:
            raise RuntimeError(
                f"{type(self).__name__} runs inside a qtasks worker, which prepares it first"
            )
        return self._engine_ref

    def before_execute(self) -> Any:
        """Called before the task runs."""
        return None

    def after_execute(self) -> Any:
        """Called after the task ran (``self._result`` holds its value)."""
        return None

    def execute_middlewares_before(self) -> Any:
        """Runs the task's ``middlewares_before``."""
        return None

    def execute_middlewares_after(self) -> Any:
        """Runs the task's ``middlewares_after``."""
        return None

    def run_task(self) -> Any:
        """Calls the task; returns its value."""
        return None

    def run_task_gen(self, func: Any) -> Any:
        """Collects a generator task's items."""
        return None

    def decode(self) -> Any:
        """The value to store, from ``self._result``."""
        return self._result

    @abstractmethod
    def execute(self, decode: bool = True) -> Any:
        """Run every hook and the task; returns the value to store."""
