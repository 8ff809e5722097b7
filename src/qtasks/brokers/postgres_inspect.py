"""The PostgreSQL transport's inspection side: task listings, queue depths, worker records
and per-minute counts (:class:`PostgresInspect`, a part of
:class:`~qtasks.brokers.postgres.PostgresBroker`). The tables and statements are in
``postgres.sql`` (migration 5 and the section at its end).

- Listings walk the task table's primary key ``(app, id)`` backwards: newest first, a
  page costs its ``limit`` rows (plus those its filters skip), however many are stored.
- ``enqueued`` is counted by the enqueue statement itself (no extra round trip) as an
  appended piece of the minute's count: a plain insert, with no row shared between
  enqueuers. A shared counter row (an UPSERT per minute and queue) makes concurrent
  enqueuers queue on its lock until each commits, and even one row per connection
  degrades under a long transaction elsewhere (every update leaves a version that cannot
  be pruned, and the next update walks them all). Heartbeats add the workers' outcome
  counts the same way.
- Each heartbeat is one transaction sent as one pipeline: the worker's record, its
  counts, and the lazy upkeep (fold the pieces into one row per minute and queue, drop
  what is past its retention), which one heartbeat of the app at a time does and which
  never waits for a row lock. Readers sum whatever pieces are not folded yet.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from psycopg.rows import TupleRow

from qtasks.brokers.postgres_schema import AsyncConn
from qtasks.brokers.postgres_url import PostgresSettings
from qtasks.core.inspection import (
    COUNT_FIELDS,
    COUNTS_KEEP_MINUTES,
    WORKER_KEEP,
    MinuteCounts,
    QueueDepth,
    TaskQuery,
    WorkerInfo,
    merge_counts,
)
from qtasks.core.records import StoredTask

#: Most count pieces one heartbeat folds (a bounded transaction, however far behind).
FOLD_BATCH = 20_000
#: The columns the ``throughput`` statement returns, in order (MinuteCounts' field names).
_COUNTS_COLUMNS = ("minute", "queue", *COUNT_FIELDS)
#: The columns the ``workers`` statement returns, in order (WorkerInfo's field names).
_WORKER_COLUMNS = (
    "id host pid queues concurrency started_at last_seen running done failed stopped".split()  # noqa: SIM905
)


def _tidy_key(schema: str, namespace: str) -> int:
    """The advisory lock taken by the heartbeat tidying an app's counts and workers."""
    digest = hashlib.sha1(f"qtasks.tidy.{schema}\0{namespace}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresInspect:
    """What operators read off PostgreSQL, and the heartbeats they read."""

    if TYPE_CHECKING:  # the broker's own, used here
        namespace: str
        settings: PostgresSettings
        _app: bytes
        _sql: dict[str, str]

        def _conn(self) -> contextlib.AbstractAsyncContextManager[AsyncConn]: ...

        async def _rows(
            self, name: str, params: dict[str, Any] | None = None
        ) -> list[TupleRow]: ...

        async def _tasks(self, name: str, params: dict[str, Any]) -> list[StoredTask]: ...

    async def list_tasks(self, query: TaskQuery) -> list[StoredTask]:
        if query.limit <= 0:
            return []
        params = {
            "app": self._app,
            "statuses": [s.value for s in query.statuses] or None,
            "queues": list(query.queues) or None,
            "task_name": query.task_name,
            "limit": query.limit,
            "before": query.before,
        }
        name = "list_tasks" if query.before is None else "list_tasks_before"
        return await self._tasks(name, params)

    async def queue_depths(self, queues: Sequence[str] | None = None) -> list[QueueDepth]:
        params = {"app": self._app, "queues": None if queues is None else list(queues)}
        found = {
            str(queue): QueueDepth(
                queue=str(queue), ready=int(ready), delayed=int(delayed), running=int(running)
            )
            for queue, ready, delayed, running in await self._rows("queue_depths", params)
        }
        if queues is None:
            return [found[queue] for queue in sorted(found)]
        return [
            found.get(queue) or QueueDepth(queue=queue, ready=0, delayed=0, running=0)
            for queue in dict.fromkeys(queues)
        ]

    async def heartbeat(
        self, info: WorkerInfo, *, ttl: float, counts: Sequence[MinuteCounts] = ()
    ) -> None:
        worker = {"app": self._app, **info.to_dict()}
        tidy = {
            "app": self._app,
            "tidy_key": _tidy_key(self.settings.schema, self.namespace),
            "keep_minutes": COUNTS_KEEP_MINUTES,
            "worker_keep": WORKER_KEEP,
            "fold_batch": FOLD_BATCH,
        }
        rows = merge_counts(counts)  # one piece per (minute, queue)
        async with self._conn() as conn, conn.pipeline(), conn.transaction():
            await conn.execute(self._sql["upsert_worker"], worker)
            if rows:
                await conn.execute(self._sql["add_counts"], self._counts_params(rows))
            await conn.execute(self._sql["tidy_inspection"], tidy)

    def _counts_params(self, rows: Sequence[MinuteCounts]) -> dict[str, Any]:
        return {
            "app": self._app,
            "minutes": [r.minute for r in rows],
            "queues": [r.queue for r in rows],
            "succeeded": [r.succeeded for r in rows],
            "failed": [r.failed for r in rows],
            "retried": [r.retried for r in rows],
            "cancelled": [r.cancelled for r in rows],
        }

    async def worker_stopped(self, worker_id: str) -> None:
        await self._rows("worker_stopped", {"app": self._app, "id": worker_id})

    async def workers(self) -> list[WorkerInfo]:
        rows = await self._rows("workers", {"app": self._app, "worker_keep": WORKER_KEEP})
        return [WorkerInfo.from_dict(dict(zip(_WORKER_COLUMNS, row, strict=True))) for row in rows]

    async def throughput(self, since_minute: int) -> list[MinuteCounts]:
        params = {"app": self._app, "since": since_minute, "keep_minutes": COUNTS_KEEP_MINUTES}
        rows = await self._rows("throughput", params)
        return [MinuteCounts(**dict(zip(_COUNTS_COLUMNS, row, strict=True))) for row in rows]
