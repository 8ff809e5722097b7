"""``AsyncTestCase``: the test case for async tests (``qtasks.asyncio.QueueTasks`` apps)."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any
from uuid import UUID

from qtasks.core.result import Task
from qtasks.tests.base import BaseTestCase


class AsyncTestCase(BaseTestCase):
    """Awaitable test case: ``await case.add_task("name", *args, timeout=10)``.

    ``async with AsyncTestCase(app) as case:`` stops it (and restores the app) at the end.
    """

    async def add_task(
        self,
        task_name: str,
        *args: Any,
        priority: int | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Task | None:
        """Add a task; with ``worker`` on it has run when this returns. Returns its ``new``
        record, or with ``timeout`` its final one (``None`` if it did not finish in time)."""
        return await self._add_task(task_name, args, kwargs, priority=priority, timeout=timeout)

    async def get(self, uuid: UUID | str) -> Task | None:
        """The task's record (``None`` if unknown)."""
        return await self._get(uuid)

    async def drain(self) -> int:
        """Run every due task now, in this loop; how many outcomes were stored."""
        return await self._drain()

    async def start(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        starter: Any = None,
        num_workers: int = 4,
        reset_config: bool = True,
    ) -> None:
        """Run a worker in this loop until ``stop()`` (QTasks' ``app.run_forever()``;
        ``loop``, ``starter`` and ``reset_config`` are accepted and ignored)."""
        await self._serve(num_workers)

    async def stop(self) -> None:
        """Stop the workers this case started and put the app back as it was."""
        await asyncio.to_thread(self._stop)  # joining a background worker blocks

    async def __aenter__(self) -> AsyncTestCase:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


__all__ = ["AsyncTestCase"]
