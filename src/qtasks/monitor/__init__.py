"""See a running system: task listings, one task's detail and retry chain, workers and
their heartbeats, queue depths and per-minute throughput, as records.

``AsyncMonitor(app)`` implements each read once, as a coroutine; ``Monitor(app)`` runs
them for blocking code. ``qtasks status --watch``, ``qtasks tasks``, ``qtasks workers``,
the dashboard and Django's admin pages all read through them. Works with either app
(``qtasks.QueueTasks`` or ``qtasks.asyncio.QueueTasks``) on every transport.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from qtasks.core.broker import Broker
from qtasks.core.inspection import (
    WORKER_TTL,
    MinuteCounts,
    QueueDepth,
    TaskQuery,
    WorkerInfo,
    merge_counts,
)
from qtasks.core.records import DeadLetterQuery
from qtasks.core.result import Task, record_from_stored
from qtasks.core.status import TaskStatusEnum
from qtasks.monitor.views import (
    Overview,
    QueueView,
    TaskDetail,
    WorkerView,
    jsonable,
    window,
)

T = TypeVar("T")

#: The most tasks one listing returns (page on with ``before=``).
MAX_LIMIT = 1000
#: The most retries a task detail follows either way.
_CHAIN_HOPS = 100


def _statuses(status: str | Sequence[str] | None) -> tuple[TaskStatusEnum, ...]:
    if status is None:
        return ()
    names = (status,) if isinstance(status, str) else tuple(status)
    known = ", ".join(s.value for s in TaskStatusEnum)
    try:
        return tuple(TaskStatusEnum(str(n).lower()) for n in names)
    except ValueError:
        raise ValueError(f"unknown status in {list(names)!r}; statuses: {known}") from None


def _queues(queue: str | Sequence[str] | None) -> tuple[str, ...]:
    if queue is None:
        return ()
    return (queue,) if isinstance(queue, str) else tuple(queue)


def task_id(value: object) -> str:
    """A task id in canonical form (any form ``uuid.UUID`` reads), else ``ValueError``."""
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except ValueError:
        raise ValueError(f"{value!r} is not a task id (a UUID)") from None


class AsyncMonitor:
    """The reads an operator makes, once, as coroutines."""

    def __init__(self, app: Any, *, worker_ttl: float = WORKER_TTL) -> None:
        self.app = app
        self.worker_ttl = worker_ttl

    async def _broker(self) -> Broker:
        broker: Broker = await self.app._client.broker()
        return broker

    def _record(self, stored: Any) -> Task:
        return record_from_stored(stored, self.app)

    async def tasks(
        self,
        *,
        status: str | Sequence[str] | None = None,
        queue: str | Sequence[str] | None = None,
        task_name: str | None = None,
        limit: int = 50,
        before: object = None,
    ) -> list[Task]:
        """Stored tasks (waiting, running and finished), newest first, at most ``limit``;
        ``before``: a task id, to page on from the last of the previous page."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, not {limit!r}")
        query = TaskQuery(
            statuses=_statuses(status),
            queues=_queues(queue),
            task_name=task_name,
            limit=limit,
            before=None if before is None else task_id(before),
        )
        return [self._record(s) for s in await (await self._broker()).list_tasks(query)]

    async def task(self, task: object) -> TaskDetail | None:
        """One task with its workers and its retry chain; ``None`` if unknown or expired."""
        broker = await self._broker()
        stored = await broker.get(task_id(task))
        if stored is None:
            return None
        chain = [stored]
        while chain[0].retry_parent and len(chain) < _CHAIN_HOPS:
            parent = await broker.get(chain[0].retry_parent)
            if parent is None:
                break
            chain.insert(0, parent)
        while chain[-1].retry_child and len(chain) < 2 * _CHAIN_HOPS:
            child = await broker.get(chain[-1].retry_child)
            if child is None:
                break
            chain.append(child)
        return TaskDetail(
            task=self._record(stored),
            worker_ids=stored.worker_ids,
            error_type=stored.error_type,
            chain=tuple(self._record(s) for s in chain),
        )

    async def workers(self) -> list[WorkerView]:
        """Every worker heard of in the last hour (alive, stopped or dead), newest first."""
        now = time.time()
        return [
            WorkerView(info=w, state=_state(w, now, self.worker_ttl))
            for w in await (await self._broker()).workers()
        ]

    async def throughput(self, minutes: int = 60) -> list[MinuteCounts]:
        """Per-minute counts of the last ``minutes`` minutes (this one included), per
        queue, oldest first; minutes with nothing are absent."""
        first = int(time.time() // 60) - minutes + 1
        return merge_counts(await (await self._broker()).throughput(first))

    async def queues(
        self, queues: Sequence[str] | None = None, *, minutes: int = 60
    ) -> list[QueueView]:
        """Each queue's depth now and its per-minute counts over the last ``minutes``:
        the given queues, else every queue with a task waiting or running, or counted
        in the window."""
        broker = await self._broker()
        depths = {d.queue: d for d in await broker.queue_depths(queues)}
        last = int(time.time() // 60)
        rows = merge_counts(await broker.throughput(last - minutes + 1))
        names = list(queues) if queues else sorted({*depths, *(r.queue for r in rows)})
        return [
            QueueView(
                depth=depths.get(name) or QueueDepth(queue=name, ready=0, delayed=0, running=0),
                minutes=window(rows, name, last - minutes + 1, last),
            )
            for name in names
        ]

    async def overview(self, *, minutes: int = 60, failures: int = 10) -> Overview:
        """Counts by status, queues, workers and the latest dead letters, in one call."""
        broker = await self._broker()
        dead = await broker.dead_letters(DeadLetterQuery(limit=failures))
        return Overview(
            taken_at=time.time(),
            counts=await broker.count(None),
            queues=tuple(await self.queues(minutes=minutes)),
            workers=tuple(await self.workers()),
            failures=tuple(self._record(s) for s in dead),
            minutes=minutes,
        )


def _state(worker: WorkerInfo, now: float, ttl: float) -> str:
    if worker.stopped:
        return "stopped"
    return "alive" if worker.alive(now, ttl) else "dead"


class Monitor:
    """:class:`AsyncMonitor` for blocking code (scripts, the CLI, Django views)."""

    def __init__(self, app: Any, *, worker_ttl: float = WORKER_TTL) -> None:
        self.aio = AsyncMonitor(app, worker_ttl=worker_ttl)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        result: T = self.aio.app._sync(coro)
        return result

    def tasks(self, **query: Any) -> list[Task]:
        """See :meth:`AsyncMonitor.tasks`."""
        return self._run(self.aio.tasks(**query))

    def task(self, task: object) -> TaskDetail | None:
        """See :meth:`AsyncMonitor.task`."""
        return self._run(self.aio.task(task))

    def workers(self) -> list[WorkerView]:
        """See :meth:`AsyncMonitor.workers`."""
        return self._run(self.aio.workers())

    def throughput(self, minutes: int = 60) -> list[MinuteCounts]:
        """See :meth:`AsyncMonitor.throughput`."""
        return self._run(self.aio.throughput(minutes))

    def queues(self, queues: Sequence[str] | None = None, *, minutes: int = 60) -> list[QueueView]:
        """See :meth:`AsyncMonitor.queues`."""
        return self._run(self.aio.queues(queues, minutes=minutes))

    def overview(self, *, minutes: int = 60, failures: int = 10) -> Overview:
        """See :meth:`AsyncMonitor.overview`."""
        return self._run(self.aio.overview(minutes=minutes, failures=failures))


__all__ = [
    "AsyncMonitor",
    "Monitor",
    "Overview",
    "QueueView",
    "TaskDetail",
    "WorkerView",
    "jsonable",
    "task_id",
]
