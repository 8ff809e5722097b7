"""``qtasks.asyncio.QueueTasks``: the same app, with ``async`` client methods."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from qtasks.app import AppCore, dead_selection
from qtasks.core.records import CancelState
from qtasks.core.result import Task
from qtasks.events.async_events import AsyncEvents
from qtasks.sending import CallSpec
from qtasks.starters.async_starter import AsyncStarter
from qtasks.tasks import AsyncDeclarer, AsyncTask


class QueueTasks(AppCore[AsyncTask[Any, Any]], AsyncDeclarer):
    """The app with an awaitable client API: ``await app.add_task(...)``."""

    _handle_class = AsyncTask
    _events_class = AsyncEvents
    _starter_class = AsyncStarter

    def run_forever(  # type: ignore[override]  # QTasks' async app takes ``loop`` first
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        starter: Any = None,
        num_workers: int | None = None,
        reset_config: bool = True,
        **worker_options: Any,
    ) -> None:
        """Run a worker until SIGTERM/SIGINT (or ``await app.stop()``), QTasks' order of
        parameters: ``loop`` to run in (default: a new one), ``starter`` (default: an
        ``AsyncStarter``), then as ``qtasks.QueueTasks.run_forever``."""
        from qtasks.starters.base import run_app

        run_app(self, starter, loop, num_workers, reset_config, worker_options)

    async def add_task(
        self,
        task_name: str,
        *args: Any,
        priority: int | None = None,
        timeout: float | None = None,
        unique_key: str | None = None,
        unique_for: float | None = None,
        **kwargs: Any,
    ) -> Task | None:
        """Enqueue a task by name; with ``timeout``, wait for and return its final record.
        With ``unique_key`` (and/or ``unique_for`` seconds), a task holding that key makes
        this call return its record instead (docs/unique.md)."""
        return await self._add_task(
            task_name,
            args,
            kwargs,
            priority=priority,
            timeout=timeout,
            unique_key=unique_key,
            unique_for=unique_for,
        )

    async def add_tasks(
        self, calls: Iterable[CallSpec], *, priority: int | None = None
    ) -> list[Task]:
        """Enqueue many calls in one round trip."""
        return await self._add_tasks(calls, priority=priority)

    async def get(self, uuid: UUID | str) -> Task | None:
        """The task's current record, or ``None`` if unknown or expired."""
        return await self._get(uuid)

    async def wait_result(self, uuid: UUID | str, timeout: float = 100.0) -> Task | None:
        """Wait until the task is final; ``None`` on timeout."""
        return await self._await_record(uuid, timeout)

    async def ping(self) -> bool:
        """True when the broker answers."""
        return await self._client.ping()

    async def flush_all(self) -> None:
        """Delete every queued task and stored result."""
        await self._client.flush_all()

    async def count(self, queues: Sequence[str] | None = None) -> dict[str, int]:
        """How many tasks are in each status."""
        return await self._client.count(queues)

    async def cancel(self, uuid: UUID | str, reason: str = "") -> CancelState:
        """Cancel a waiting task, or ask the worker running it to stop it."""
        return await self._cancel(uuid, reason)

    async def dead_letters(
        self, *, task_name: str | None = None, queue: str | None = None, limit: int | None = 100
    ) -> list[Task]:
        """Failed tasks (their last run raised, timed out, or could not run), newest first."""
        return await self._dead_letters(task_name, queue, limit)

    async def requeue_dead(
        self, *uuids: UUID | str, task_name: str | None = None, all: bool = False
    ) -> int:
        """Run dead letters again (same ids): the given ones, a task's, or ``all=True``."""
        return await self._client.requeue_dead(dead_selection(uuids, task_name, all))

    async def purge_dead(
        self, *uuids: UUID | str, task_name: str | None = None, all: bool = False
    ) -> int:
        """Delete dead letters: the given ones, a task's, or ``all=True``."""
        return await self._client.purge_dead(dead_selection(uuids, task_name, all))

    async def stop(self) -> None:
        """Ask this process' running workers to stop gracefully."""
        self._request_stop()

    async def close(self) -> None:
        """Close this event loop's broker connection (reopened on the next call); the
        loop's shutdown (the end of ``asyncio.run``) closes it too."""
        await self._client.close()


__all__ = ["QueueTasks"]
