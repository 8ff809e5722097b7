"""``qtasks.QueueTasks``: the app with a blocking client API, a thin facade that runs
each of :class:`~qtasks.app.AppCore`'s coroutines to completion for sync callers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from qtasks.app import AppCore, dead_selection
from qtasks.core.records import CancelState
from qtasks.core.result import Task
from qtasks.sending import CallSpec
from qtasks.tasks import SyncDeclarer, SyncTask


class QueueTasks(AppCore[SyncTask[Any, Any]], SyncDeclarer):
    """The app with a blocking client API: ``app.add_task(...)`` returns a ``Task``."""

    _handle_class = SyncTask

    def add_task(
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
        return self._sync(
            self._add_task(
                task_name,
                args,
                kwargs,
                priority=priority,
                timeout=timeout,
                unique_key=unique_key,
                unique_for=unique_for,
            )
        )

    def add_tasks(self, calls: Iterable[CallSpec], *, priority: int | None = None) -> list[Task]:
        """Enqueue many calls in one round trip: ``app.add_tasks([add(1, 2), ("add", (3, 4))])``."""
        return self._sync(self._add_tasks(calls, priority=priority))

    def get(self, uuid: UUID | str) -> Task | None:
        """The task's current record, or ``None`` if unknown or expired."""
        return self._sync(self._get(uuid))

    def wait_result(self, uuid: UUID | str, timeout: float = 100.0) -> Task | None:
        """Block until the task is final; ``None`` on timeout."""
        return self._wait_record(uuid, timeout)

    def ping(self) -> bool:
        """True when the broker answers."""
        return self._sync(self._client.ping())

    def flush_all(self) -> None:
        """Delete every queued task and stored result of this app (other apps' stay)."""
        self._sync(self._client.flush_all())

    def count(self, queues: Sequence[str] | None = None) -> dict[str, int]:
        """How many tasks are in each status."""
        return self._sync(self._client.count(queues))

    def cancel(self, uuid: UUID | str, reason: str = "") -> CancelState:
        """Cancel a waiting task, or ask the worker running it to stop it."""
        return self._sync(self._cancel(uuid, reason))

    def dead_letters(
        self, *, task_name: str | None = None, queue: str | None = None, limit: int | None = 100
    ) -> list[Task]:
        """Failed tasks (their last run raised, timed out, or could not run), newest first."""
        return self._sync(self._dead_letters(task_name, queue, limit))

    def requeue_dead(
        self, *uuids: UUID | str, task_name: str | None = None, all: bool = False
    ) -> int:
        """Run dead letters again (same ids): the given ones, a task's, or ``all=True``."""
        return self._sync(self._client.requeue_dead(dead_selection(uuids, task_name, all)))

    def purge_dead(
        self, *uuids: UUID | str, task_name: str | None = None, all: bool = False
    ) -> int:
        """Delete dead letters: the given ones, a task's, or ``all=True``."""
        return self._sync(self._client.purge_dead(dead_selection(uuids, task_name, all)))

    def stop(self) -> None:
        """Ask this process' running workers to stop gracefully."""
        self._request_stop()

    def close(self) -> None:
        """Close this thread's broker connection (reopened on the next call); interpreter
        exit closes every thread's."""
        self._sync(self._client.close())
