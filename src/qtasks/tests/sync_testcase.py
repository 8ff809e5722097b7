"""``SyncTestCase``: the test case for sync tests, a thin facade over ``BaseTestCase``."""

from __future__ import annotations

from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar
from uuid import UUID

from qtasks.core.result import Task
from qtasks.tests.base import BaseTestCase

T = TypeVar("T")


class SyncTestCase(BaseTestCase):
    """Blocking test case: ``case.add_task("name", *args, timeout=10)``.

    ``with SyncTestCase(app) as case:`` stops it (and restores the app) at the end.
    """

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.app._runner.run(coro)  # the app's private loop: its connections reused

    def add_task(
        self,
        task_name: str,
        *args: Any,
        priority: int | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Task | None:
        """Add a task; with ``worker`` on it has run when this returns. Returns its ``new``
        record, or with ``timeout`` its final one (``None`` if it did not finish in time)."""
        return self._run(
            self._add_task(task_name, args, kwargs, priority=priority, timeout=timeout)
        )

    def get(self, uuid: UUID | str) -> Task | None:
        """The task's record (``None`` if unknown)."""
        return self._run(self._get(uuid))

    def drain(self) -> int:
        """Run every due task now, in this thread; how many outcomes were stored."""
        return self._run(self._drain())

    def start(self, starter: Any = None, num_workers: int = 4, reset_config: bool = True) -> None:
        """Run a worker in this thread until ``stop()`` is called from another one (QTasks'
        ``app.run_forever()``; ``starter`` and ``reset_config`` are accepted and ignored)."""
        self._run(self._serve(num_workers))

    def stop(self) -> None:
        """Stop the workers this case started and put the app back as it was."""
        self._stop()

    def __enter__(self) -> SyncTestCase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = ["SyncTestCase"]
