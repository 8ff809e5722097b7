"""The SQLite broker's result side: records, waits, counts, cancellation, dead letters
(:class:`SQLiteResults`, a part of :class:`~qtasks.brokers.sqlite.SQLiteBroker`)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from qtasks.brokers.polling import AdaptivePoll
from qtasks.brokers.sqlite_faults import translated
from qtasks.brokers.sqlite_schema import QUERIES, stored_task
from qtasks.core.records import CancelState, DeadLetterQuery, Retention, StoredTask
from qtasks.core.status import TaskStatusEnum


class SQLiteResults:
    """What the broker does with finished and waiting records of its namespace."""

    if TYPE_CHECKING:  # the broker's own, used here
        path: str
        namespace: str
        _poll_max: float

        def _db(self) -> sqlite3.Connection: ...
        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...
        def _data_version(self) -> int: ...
        def _sql(self, name: str, queue_count: int) -> str: ...

    @translated
    async def cancel(self, task_id: str, reason: str, *, retention: Retention) -> CancelState:
        now = time.time()
        params = {
            "id": task_id,
            "reason": reason,
            "now": now,
            "expires": retention.expiry(TaskStatusEnum.CANCEL, now),
            "app": self.namespace,
        }
        with self._write() as db:
            row = db.execute(QUERIES["cancel_state"], (self.namespace, task_id, now)).fetchone()
            if row is None:
                return CancelState.UNKNOWN
            status = TaskStatusEnum(row[0])
            if status is TaskStatusEnum.NEW:
                db.execute(QUERIES["cancel_waiting"], params)
                return CancelState.CANCELLED
            if status is TaskStatusEnum.PROCESS:
                db.execute(QUERIES["request_cancel"], params)
                return CancelState.REQUESTED
            return CancelState.FINISHED

    def _dead_params(self, query: DeadLetterQuery) -> dict[str, Any]:
        return {
            "app": self.namespace,
            "now": time.time(),
            "ids": None if query.ids is None else json.dumps(list(query.ids)),
            "task_name": query.task_name,
            "queues": None if query.queues is None else json.dumps(list(query.queues)),
            "limit": -1 if query.limit is None else query.limit,
        }

    @translated
    async def dead_letters(self, query: DeadLetterQuery) -> list[StoredTask]:
        rows = self._db().execute(QUERIES["dead_letters"], self._dead_params(query))
        return [stored_task(row) for row in rows.fetchall()]

    @translated
    async def requeue_dead(self, query: DeadLetterQuery) -> int:
        params = self._dead_params(query)
        del params["limit"]
        return int(self._db().execute(QUERIES["requeue_dead"], params).rowcount)

    @translated
    async def purge_dead(self, query: DeadLetterQuery) -> int:
        params = self._dead_params(query)
        del params["limit"]
        return int(self._db().execute(QUERIES["purge_dead"], params).rowcount)

    @translated
    async def get(self, task_id: str) -> StoredTask | None:
        params = (self.namespace, task_id, time.time())
        row = self._db().execute(QUERIES["get"], params).fetchone()
        return None if row is None else stored_task(row)

    @translated
    async def wait(self, task_id: str, timeout: float) -> StoredTask | None:
        deadline = time.monotonic() + timeout
        poll = AdaptivePoll(maximum=self._poll_max)
        version = -1
        while True:
            current = self._data_version()
            if current != version:
                version = current
                row = self._db().execute(QUERIES["status_of"], (self.namespace, task_id)).fetchone()
                if row is None or TaskStatusEnum(row[0]).is_final:
                    return await self.get(task_id)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return await self.get(task_id)
            await poll.sleep(remaining)

    @translated
    async def count(self, queues: Sequence[str] | None = None) -> dict[str, int]:
        if queues:
            sql = self._sql("count_queues", len(queues))
            rows = self._db().execute(sql, (self.namespace, *queues))
        else:
            rows = self._db().execute(QUERIES["count"], (self.namespace,))
        return {status: n for status, n in rows.fetchall()}
