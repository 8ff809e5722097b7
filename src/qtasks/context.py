"""What an ``echo=True`` task receives as ``self``: its options, ``add_task`` and ``ctx``.

Sync tasks (running on a worker thread) get blocking methods; async tasks get
coroutines. Both forward to the app's one async implementation. ``self`` has
the task's options as attributes (``self.priority`` is this run's priority), as
QTasks' task objects do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn
from uuid import UUID

from qtasks.config import QueueConfig
from qtasks.core.definition import TaskDefinition, TaskOptionsView
from qtasks.core.envelope import Envelope
from qtasks.core.errors import TaskCancelledError, TaskPluginTriggerError
from qtasks.core.records import Delivery
from qtasks.core.result import Task
from qtasks.worker.execute import CancelCheck
from qtasks.worker.retries import all_worker_ids

if TYPE_CHECKING:
    from qtasks.app import AppCore

#: Parent of every task logger: the worker's, so whatever shows the worker's log shows them.
TASK_LOGGER = "qtasks.worker.task"


class _ContextBase:
    def __init__(
        self,
        app: AppCore[Any],
        definition: TaskDefinition,
        envelope: Envelope,
        delivery: Delivery,
        cancel_check: CancelCheck,
    ) -> None:
        self._app = app
        self._cancel_check = cancel_check
        self.task_name = definition.name
        self.task_uuid = UUID(envelope.id)
        self.envelope = envelope
        self.attempt = delivery.attempt
        """1 on the first run of this record; more after a worker died under it."""
        self.worker_ids = all_worker_ids(envelope, delivery)
        """Every worker that claimed this task (earlier attempts of a retry chain too)."""
        self.definition = definition
        self.generate_handler: Callable[[Any], Any] | None = definition.generate_handler
        """The task's ``generate_handler`` (QTasks' name), or ``None``."""

    def get_logger(self, name: str | None = None) -> logging.Logger:
        """``qtasks.worker.task.<name or task name>``: a child of the worker's logger, so its
        records go wherever the worker's go (``qtasks --log-level`` sets both)."""
        return logging.getLogger(TASK_LOGGER).getChild(name or self.task_name)

    def get_config(self) -> QueueConfig:
        return self._app.config

    def get_component(self, name: str) -> Any:
        """A component by QTasks' name: ``"worker"`` (the worker running this task),
        ``"broker"`` and ``"storage"`` (that worker's transport, which keeps the results
        too), else the app's public attribute of that name (``"config"``, ``"log"``, …);
        ``None`` if there is none."""
        if name in ("worker", "broker", "storage"):
            worker = self._worker()
            if worker is not None:
                return worker if name == "worker" else worker.broker
        if name.startswith("_"):
            return None
        return getattr(self._app, name, None)

    def _worker(self) -> Any:
        current = self.worker_ids[-1] if self.worker_ids else None
        return next((w for w in list(self._app._workers) if w.id == current), None)

    def plugin_error(self, **kwargs: Any) -> NoReturn:
        """Raise QTasks' ``TaskPluginTriggerError(**kwargs)``. No plugin handles it yet, so the
        run fails with it (status ``error``, its traceback stored), like any other exception."""
        raise TaskPluginTriggerError(**kwargs)

    @property
    def cancel_requested(self) -> bool:
        """True once ``app.cancel(uuid)`` asked to stop this run (seen within about a second).

        An async task is cancelled for you; a long sync task should check this now and then
        and return or call ``cancel()``; it is stored as ``cancel`` either way.
        """
        return self._cancel_check()

    def cancel(self, reason: str = "") -> NoReturn:
        """Stop the task now; it is stored with status ``cancel`` and this reason."""
        raise TaskCancelledError(reason)


class SyncContext(_ContextBase):
    """``self.ctx`` of a sync task."""

    def get_metadata(self, cache: bool = True) -> Task | None:
        return self.get_task(self.task_uuid)

    def get_task(self, uuid: UUID | str) -> Task | None:
        return self._app._sync(self._app._get(uuid))

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class AsyncContext(_ContextBase):
    """``self.ctx`` of an async task."""

    async def get_metadata(self, cache: bool = True) -> Task | None:
        return await self.get_task(self.task_uuid)

    async def get_task(self, uuid: UUID | str) -> Task | None:
        return await self._app._get(uuid)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _EchoBase(TaskOptionsView):
    def __init__(self, ctx: SyncContext | AsyncContext) -> None:
        self.ctx = ctx
        self.task_name = ctx.task_name
        self.definition = ctx.definition

    @property
    def priority(self) -> int:
        """This run's priority (what it was enqueued with)."""
        return self.ctx.envelope.priority


class SyncEcho(_EchoBase):
    """``self`` of a sync ``echo=True`` task."""

    ctx: SyncContext

    def add_task(
        self,
        *args: Any,
        priority: int | None = None,
        timeout: float | None = None,
        task_name: str | None = None,
        **kwargs: Any,
    ) -> Task | None:
        """Enqueue this task again, or ``task_name`` (another task, by name), through the
        same app; with ``timeout``, wait for and return the final record."""
        app = self.ctx._app
        return app._sync(
            app._add_task(
                task_name or self.task_name, args, kwargs, priority=priority, timeout=timeout
            )
        )


class AsyncEcho(_EchoBase):
    """``self`` of an async ``echo=True`` task."""

    ctx: AsyncContext

    async def add_task(
        self,
        *args: Any,
        priority: int | None = None,
        timeout: float | None = None,
        task_name: str | None = None,
        **kwargs: Any,
    ) -> Task | None:
        """Enqueue this task again, or ``task_name`` (another task, by name), through the
        same app; with ``timeout``, wait for and return the final record."""
        return await self.ctx._app._add_task(
            task_name or self.task_name, args, kwargs, priority=priority, timeout=timeout
        )


def make_echo(
    app: AppCore[Any],
    definition: TaskDefinition,
    envelope: Envelope,
    delivery: Delivery,
    cancel_check: CancelCheck,
) -> SyncEcho | AsyncEcho:
    if definition.kind.is_async:
        return AsyncEcho(AsyncContext(app, definition, envelope, delivery, cancel_check))
    return SyncEcho(SyncContext(app, definition, envelope, delivery, cancel_check))
