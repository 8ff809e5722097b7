"""The SQLite broker's inspection side: task listings, queue depths, worker records and
per-minute totals (:class:`SQLiteInspect`, a part of
:class:`~qtasks.brokers.sqlite.SQLiteBroker`). The tables (``qtasks_worker``,
``qtasks_minute``) and every statement are in ``sqlite.sql``.

``enqueued`` is counted in memory and written by a thread (``sqlite_counts.py``)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from qtasks.brokers.sqlite_counts import EnqueueCounts
from qtasks.brokers.sqlite_faults import translated
from qtasks.brokers.sqlite_schema import QUERIES, stored_task
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


def _json_list(values: Sequence[str]) -> str | None:
    return json.dumps(list(values)) if values else None


def _worker(row: Sequence[Any]) -> WorkerInfo:
    wid, host, pid, queues, concurrency, started_at, last_seen, running, done, failed, stop = row
    return WorkerInfo(
        id=wid,
        host=host,
        pid=pid,
        queues=tuple(json.loads(queues)),
        concurrency=concurrency,
        started_at=started_at,
        last_seen=last_seen,
        running=tuple(json.loads(running)),
        done=done,
        failed=failed,
        stopped=bool(stop),
    )


class SQLiteInspect:
    """What operators read off the file, for the broker's namespace."""

    if TYPE_CHECKING:  # the broker's own, used here
        path: str
        namespace: str

        def _db(self) -> sqlite3.Connection: ...
        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

    _counts: EnqueueCounts  # the broker's, for its file

    def _count_enqueued(self, now: float, envelopes: Sequence[Envelope]) -> None:
        """Count enqueued ``envelopes`` (written within about a second, see sqlite_counts)."""
        minute = int(now // 60)
        if len(envelopes) == 1:
            self._counts.add(self.namespace, minute, envelopes[0].queue)
            return
        per_queue: dict[str, int] = {}
        for env in envelopes:
            per_queue[env.queue] = per_queue.get(env.queue, 0) + 1
        for queue, n in per_queue.items():
            self._counts.add(self.namespace, minute, queue, n)

    @translated
    async def list_tasks(self, query: TaskQuery) -> list[StoredTask]:
        params = {
            "app": self.namespace,
            "now": time.time(),
            "statuses": _json_list([status.value for status in query.statuses]),
            "queues": _json_list(query.queues),
            "task_name": query.task_name,
            "before": query.before,
            "limit": max(query.limit, 0),
        }
        rows = self._db().execute(QUERIES["list_tasks"], params).fetchall()
        return [stored_task(row) for row in rows]

    @translated
    async def queue_depths(self, queues: Sequence[str] | None = None) -> list[QueueDepth]:
        params = {"app": self.namespace, "now": time.time()}
        found = {
            queue: QueueDepth(queue=queue, ready=ready, delayed=delayed, running=running)
            for queue, ready, delayed, running in self._db().execute(
                QUERIES["queue_depths"], params
            )
        }
        if queues is None:
            return list(found.values())
        return [
            found.get(queue) or QueueDepth(queue=queue, ready=0, delayed=0, running=0)
            for queue in dict.fromkeys(queues)
        ]

    @translated
    async def heartbeat(
        self, info: WorkerInfo, *, ttl: float, counts: Sequence[MinuteCounts] = ()
    ) -> None:
        ns, now = self.namespace, time.time()
        record = {
            "app": ns,
            "id": info.id,
            "host": info.host,
            "pid": info.pid,
            "queues": json.dumps(list(info.queues)),
            "concurrency": info.concurrency,
            "started_at": info.started_at,
            "last_seen": info.last_seen,
            "running": json.dumps(list(info.running)),
            "done": info.done,
            "failed": info.failed,
            "stopped": int(info.stopped),
        }
        totals = [
            (ns, c.minute, c.queue, c.enqueued, c.succeeded, c.failed, c.retried, c.cancelled)
            for c in counts
        ]
        with self._write() as db:
            db.execute(QUERIES["heartbeat"], record)
            if totals:
                db.executemany(QUERIES["add_counts"], totals)
            db.execute(QUERIES["drop_old_workers"], (ns, now - WORKER_KEEP))
            db.execute(QUERIES["drop_old_minutes"], (ns, int(now // 60) - COUNTS_KEEP_MINUTES))

    @translated
    async def worker_stopped(self, worker_id: str) -> None:
        self._db().execute(QUERIES["worker_stopped"], (self.namespace, worker_id))

    @translated
    async def workers(self) -> list[WorkerInfo]:
        params = (self.namespace, time.time() - WORKER_KEEP)
        return [_worker(row) for row in self._db().execute(QUERIES["workers"], params)]

    @translated
    async def throughput(self, since_minute: int) -> list[MinuteCounts]:
        first = max(since_minute, int(time.time() // 60) - COUNTS_KEEP_MINUTES)
        with contextlib.suppress(sqlite3.Error):  # (busy: they come with the next round)
            self._counts.write()  # this process's own enqueues are in what it reads
        rows = self._db().execute(QUERIES["throughput"], (self.namespace, first))
        fields = ("minute", "queue", *COUNT_FIELDS)
        return [MinuteCounts(**dict(zip(fields, row, strict=True))) for row in rows]

    @translated
    async def flush_all(self) -> None:
        """Every task, worker record and per-minute total of the namespace, at once."""
        self._counts.forget(self.namespace)
        with self._write() as db:
            for name in ("flush_all", "flush_workers", "flush_minutes", "flush_keys"):
                db.execute(QUERIES[name], (self.namespace,))
