"""The memory broker's inspection side: task listings, queue depths, worker records and
per-minute counts (:class:`MemoryInspect`, a part of
:class:`~qtasks.brokers.memory.MemoryBroker`).

Besides its tasks, each store keeps an :class:`Inspection`: the worker records of its
namespace (one per worker id, the last heartbeat as sent) and the per-minute totals per
queue. Both are dropped lazily, on heartbeat: a worker an hour after its last heartbeat,
a minute's totals two hours after it. ``enqueued`` is counted by ``enqueue`` only (the
new task of a retry, stored by ``complete``, is the worker's ``retried``).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from qtasks.core.envelope import Envelope
from qtasks.core.inspection import (
    COUNT_FIELDS,
    COUNTS_KEEP_MINUTES,
    WORKER_KEEP,
    MinuteCounts,
    QueueDepth,
    TaskQuery,
    WorkerInfo,
)
from qtasks.core.records import StoredTask
from qtasks.core.status import TaskStatusEnum

if TYPE_CHECKING:
    from qtasks.brokers.memory import _Store

#: The totals of one (minute, queue), in this order (MinuteCounts' field names).
COUNTED = COUNT_FIELDS

_NEW, _PROCESS = TaskStatusEnum.NEW, TaskStatusEnum.PROCESS


@dataclass(slots=True)
class Inspection:
    """A store's worker records and per-minute totals (guarded by the store's lock)."""

    workers: dict[str, WorkerInfo] = field(default_factory=dict)
    counts: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    """``(minute, queue)`` -> one total per name of :data:`COUNTED`."""

    def count_enqueued(self, minute: int, envelopes: Sequence[Envelope]) -> None:
        """One ``enqueued`` in its queue per task enqueued."""
        counts = self.counts
        for env in envelopes:
            totals = counts.get((minute, env.queue))
            if totals is None:
                counts[(minute, env.queue)] = [1, 0, 0, 0, 0]
            else:
                totals[0] += 1

    def add(self, row: MinuteCounts) -> None:
        totals = self.counts.setdefault((row.minute, row.queue), [0] * len(COUNTED))
        for i, name in enumerate(COUNTED):
            totals[i] += getattr(row, name)

    def drop_old(self, now: float) -> None:
        """Forget workers silent for an hour and totals older than two hours."""
        oldest_seen = now - WORKER_KEEP
        for worker_id in [w.id for w in self.workers.values() if w.last_seen < oldest_seen]:
            del self.workers[worker_id]
        oldest_minute = int(now // 60) - COUNTS_KEEP_MINUTES
        for key in [key for key in self.counts if key[0] < oldest_minute]:
            del self.counts[key]

    def clear(self) -> None:
        self.workers.clear()
        self.counts.clear()


def _selected(task: StoredTask, query: TaskQuery) -> bool:
    return (
        (not query.statuses or task.status in query.statuses)
        and (not query.queues or task.queue in query.queues)
        and (query.task_name is None or task.task_name == query.task_name)
        and (query.before is None or task.id < query.before)
    )


class MemoryInspect:
    """What operators read off a memory store."""

    if TYPE_CHECKING:  # the broker's own, used here
        _store: _Store

    async def list_tasks(self, query: TaskQuery) -> list[StoredTask]:
        now = time.time()
        with self._store.lock:
            found = [
                entry.task
                for entry in self._store.entries.values()
                if (entry.expires_at is None or entry.expires_at > now)
                and _selected(entry.task, query)
            ]
        # ids are time-ordered UUIDv7 strings: the largest is the newest
        return heapq.nlargest(max(query.limit, 0), found, key=lambda task: task.id)

    async def queue_depths(self, queues: Sequence[str] | None = None) -> list[QueueDepth]:
        now = time.time()
        given = queues is not None
        depths: dict[str, list[int]] = {q: [0, 0, 0] for q in queues} if queues is not None else {}
        with self._store.lock:
            for entry in self._store.entries.values():
                status = entry.task.status
                if status is _NEW:
                    column = 0 if entry.eta <= now else 1
                elif status is _PROCESS:
                    column = 2
                else:
                    continue
                queue = entry.task.queue
                row = depths.get(queue)
                if row is None:
                    if given:
                        continue
                    row = depths[queue] = [0, 0, 0]
                row[column] += 1
        names = list(depths) if given else sorted(depths)
        return [
            QueueDepth(queue=q, ready=depths[q][0], delayed=depths[q][1], running=depths[q][2])
            for q in names
        ]

    async def heartbeat(
        self, info: WorkerInfo, *, ttl: float, counts: Sequence[MinuteCounts] = ()
    ) -> None:
        inspection = self._store.inspection
        with self._store.lock:
            inspection.workers[info.id] = info
            for row in counts:
                inspection.add(row)
            inspection.drop_old(time.time())

    async def worker_stopped(self, worker_id: str) -> None:
        workers = self._store.inspection.workers
        with self._store.lock:
            info = workers.get(worker_id)
            if info is not None:
                workers[worker_id] = replace(info, stopped=True)

    async def workers(self) -> list[WorkerInfo]:
        oldest_seen = time.time() - WORKER_KEEP
        with self._store.lock:
            seen = [
                w for w in self._store.inspection.workers.values() if w.last_seen >= oldest_seen
            ]
        seen.sort(key=lambda w: (w.last_seen, w.id), reverse=True)
        return seen

    async def throughput(self, since_minute: int) -> list[MinuteCounts]:
        first = max(since_minute, int(time.time() // 60) - COUNTS_KEEP_MINUTES)
        with self._store.lock:
            rows = [
                (key, list(totals))
                for key, totals in self._store.inspection.counts.items()
                if key[0] >= first
            ]
        rows.sort()
        return [
            MinuteCounts(minute=minute, queue=queue, **dict(zip(COUNTED, totals, strict=True)))
            for (minute, queue), totals in rows
        ]
