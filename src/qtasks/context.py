"""What an ``echo=True`` task receives as ``self``: its name, ``add_task`` and ``ctx``.

Sync tasks (running on a worker thread) get blocking methods; async tasks get
coroutines. Both forward to the app's one async implementation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, NoReturn
from uuid import UUID

from qtasks.config import QueueConfig
from qtasks.core.definition import TaskDefinition
from qtasks.core.envelope import Envelope
from qtasks.core.errors import TaskCancelledError
from qtasks.core.records import Delivery
from qtasks.core.result import Task
from qtasks.worker.execute import CancelCheck, all_worker_ids

if TYPE_CHECKING:
    from qtasks.app import AppCore


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

    def get_logger(self, name: str | None = None) -> logging.Logger:
        return logging.getLogger(f"qtasks.task.{name or self.task_name}")

    def get_config(self) -> QueueConfig:
        return self._app.config

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


class SyncEcho:
    """``self`` of a sync ``echo=True`` task."""

    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx
        self.task_name = ctx.task_name

    def add_task(
        self,
        task_name: str,
        *args: Any,
        priority: int | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Task | None:
        """Enqueue another task by name through the same app."""
        app = self.ctx._app
        return app._sync(app._add_task(task_name, args, kwargs, priority=priority, timeout=timeout))


class AsyncEcho:
    """``self`` of an async ``echo=True`` task."""

    def __init__(self, ctx: AsyncContext) -> None:
        self.ctx = ctx
        self.task_name = ctx.task_name

    async def add_task(
        self,
        task_name: str,
        *args: Any,
        priority: int | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Task | None:
        """Enqueue another task by name through the same app."""
        return await self.ctx._app._add_task(
            task_name, args, kwargs, priority=priority, timeout=timeout
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
