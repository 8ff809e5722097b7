"""``sqlite:///relative.db`` / ``sqlite:////abs/path.db``: the embedded default.

Many producer and worker processes share one file: WAL journal (readers never
block the writer), ``synchronous=NORMAL`` (a commit is not fsynced until the
next checkpoint: a power cut can lose the last moments of a queue, never
corrupt it), a busy timeout, and transactions of one statement or one batch.
The schema and every statement are in ``sqlite.sql`` beside this module.

Calls run inline on the event loop: a statement takes tens of microseconds,
far less than the cost of handing it to a thread. SQLite cannot push, so idle
workers and result waiters poll ``PRAGMA data_version`` (a read of shared
memory that changes when another connection commits) at an adaptive interval.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from qtasks.brokers.polling import AdaptivePoll
from qtasks.brokers.sqlite_counts import counts_for
from qtasks.brokers.sqlite_faults import FileIdentity, translated
from qtasks.brokers.sqlite_inspect import SQLiteInspect
from qtasks.brokers.sqlite_results import SQLiteResults
from qtasks.brokers.sqlite_schema import QUERIES, SCHEMA_VERSION, open_database
from qtasks.brokers.sqlite_unique import SQLiteUnique
from qtasks.core.broker import DEFAULT_NAMESPACE, Capabilities
from qtasks.core.envelope import Envelope, encode_envelope
from qtasks.core.errors import LOST_AT_MOST_ONCE, BrokerError, lost_worker_message
from qtasks.core.records import (
    ClaimRequest,
    Delivery,
    Outcome,
    Retention,
)
from qtasks.core.status import TaskStatusEnum

#: A claim moves due delayed tasks into the ready index at most this often (seconds).
_PROMOTE_EVERY = 0.01
#: A full check for due work this often even when nothing committed (delayed tasks).
_IDLE_RECHECK = 0.05
#: Rows per multi-row INSERT of a bulk enqueue (10 values each, far below SQLite's limit).
_ROWS_PER_INSERT = 50
_ENQUEUE_MANY = QUERIES["enqueue_many"].replace(
    "{rows}", ", ".join(["(?, ?, ?, ?, ?, ?, 'new', ?, ?, ?, ?, ?)"] * _ROWS_PER_INSERT)
)


def _placeholders(count: int) -> str:
    return ", ".join("?" * count)


class SQLiteBroker(SQLiteInspect, SQLiteResults, SQLiteUnique):
    """The SQLite transport: one connection per broker instance (one per event loop)."""

    capabilities = Capabilities(
        native_priority=True,
        native_delay=True,
        stores_results=True,
        pushes_results=False,
        inline=True,
    )

    def __init__(
        self,
        path: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        busy_timeout: float = 10.0,
        poll_max: float = 0.02,
    ) -> None:
        self.path = path
        self.namespace = namespace
        """The app's name: every statement reads and writes this app's rows only."""
        self._busy_timeout = busy_timeout
        self._poll_max = poll_max
        self._idle_poll = AdaptivePoll(maximum=poll_max)  # kept across claims: stays hot
        self._conn: sqlite3.Connection | None = None
        self._identity = FileIdentity(path)
        self._claim_sql: dict[int, str] = {}
        self._counts = counts_for(path, busy_timeout)
        self._promoted_at = 0.0

    # connection ---------------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        conn = open_database(self.path, self.namespace, self._busy_timeout)
        self._identity = FileIdentity(self.path)
        return conn

    @translated
    async def connect(self) -> None:
        self._db()

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def ping(self) -> bool:
        try:
            self._db().execute("SELECT 1").fetchone()
        except (sqlite3.Error, BrokerError):
            return False
        return True

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (IMMEDIATE) so it never has to upgrade."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # queue ------------------------------------------------------------------------------

    def _insert_row(self, env: Envelope, body: bytes, now: float) -> tuple[Any, ...]:
        eta = env.eta or now
        return (
            self.namespace,
            env.id,
            env.queue,
            env.task_name,
            env.priority,
            eta,
            body,
            env.created_at or now,
            now,
            env.retry_of,
            1 if eta > now else 0,  # delayed: out of the ready index until due
        )

    @translated
    async def enqueue(self, envelopes: Sequence[Envelope]) -> dict[str, str]:
        now = time.time()
        rows = [self._insert_row(env, encode_envelope(env), now) for env in envelopes]
        if not rows:
            return {}
        held: dict[str, str] = {}
        if len(rows) == 1 and envelopes[0].unique_key is None:  # one statement, one commit
            self._db().execute(QUERIES["enqueue"], rows[0])
        else:
            with self._write() as db:
                if any(env.unique_key is not None for env in envelopes):
                    held = self._take_keys(db, envelopes, now)
                    if held:
                        rows = [row for row in rows if row[1] not in held]
                        envelopes = [env for env in envelopes if env.id not in held]
                whole = len(rows) - len(rows) % _ROWS_PER_INSERT
                for start in range(0, whole, _ROWS_PER_INSERT):
                    chunk = rows[start : start + _ROWS_PER_INSERT]
                    db.execute(_ENQUEUE_MANY, [value for row in chunk for value in row])
                if whole < len(rows):
                    db.executemany(QUERIES["enqueue"], rows[whole:])
        self._count_enqueued(now, envelopes)
        return held

    def _sql(self, name: str, queue_count: int) -> str:
        return QUERIES[name].replace("{queues}", _placeholders(queue_count))

    def _claim_now(
        self, queues: Sequence[str], limit: int, lease: float, worker_id: str
    ) -> list[Delivery]:
        db = self._db()
        self._promote(db)  # each statement its own transaction: nothing to hold between
        return self._claim_in(db, queues, limit, lease, worker_id)

    def _promote(self, db: sqlite3.Connection) -> None:
        """Move due delayed tasks into the ready index: at most every ``_PROMOTE_EVERY``
        seconds (a busy worker claims far more often), and only when a read finds one (an
        index seek, no write lock); an idle worker's claim follows a probe that found work,
        so it always looks."""
        if time.monotonic() - self._promoted_at < _PROMOTE_EVERY:
            return
        self._promoted_at = time.monotonic()
        params = (self.namespace, time.time())
        if db.execute(QUERIES["any_due"], params).fetchone() is not None:
            db.execute(QUERIES["promote_due"], params)

    def _claim_in(
        self,
        db: sqlite3.Connection,
        queues: Sequence[str],
        limit: int,
        lease: float,
        worker_id: str,
    ) -> list[Delivery]:
        """Lease the best ready tasks (inside the caller's transaction, if any)."""
        now = time.time()
        sql = self._claim_sql.get(len(queues))
        if sql is None:
            sql = self._claim_sql[len(queues)] = self._sql("claim", len(queues))
        rows = db.execute(
            sql, (worker_id, worker_id, now + lease, now, now, self.namespace, *queues, limit)
        ).fetchall()
        rows.sort(key=lambda r: (-r[3], r[4], r[0]))  # RETURNING does not keep ORDER BY
        return [
            Delivery(id=r[0], body=r[1], attempt=r[2], worker_ids=tuple(json.loads(r[5])))
            for r in rows
        ]

    def _has_ready(self, queues: Sequence[str]) -> bool:
        sql = self._sql("has_ready", len(queues))
        params = (self.namespace, *queues, self.namespace, time.time(), *queues)
        return bool(self._db().execute(sql, params).fetchone()[0])

    def _data_version(self) -> int:
        row = self._db().execute("PRAGMA data_version").fetchone()
        return int(row[0])

    @translated
    async def claim(
        self, queues: Sequence[str], limit: int, *, lease: float, worker_id: str, wait: float
    ) -> list[Delivery]:
        got = self._claim_now(queues, limit, lease, worker_id)
        if got:
            self._idle_poll.reset()
        if got or wait <= 0:
            return got
        deadline = time.monotonic() + wait
        poll = self._idle_poll
        version = self._data_version()
        next_full_check = time.monotonic() + _IDLE_RECHECK
        while True:
            now = time.monotonic()
            if now >= deadline:
                return []
            await poll.sleep(deadline - now)
            current = self._data_version()
            changed = current != version
            if not changed and time.monotonic() < next_full_check:
                continue
            version = current
            next_full_check = time.monotonic() + _IDLE_RECHECK
            if self._has_ready(queues):
                self._promoted_at = 0.0  # the work found may be a delayed task now due
                got = self._claim_now(queues, limit, lease, worker_id)
                if got:
                    poll.reset()
                    return got

    @translated
    async def extend(self, ids: Sequence[str], *, lease: float, worker_id: str) -> dict[str, str]:
        rows = self._db().execute(
            QUERIES["extend"],
            (time.time() + lease, self.namespace, json.dumps(list(ids)), worker_id),
        )
        return {task_id: reason for task_id, reason in rows.fetchall() if reason is not None}

    @translated
    async def start_at_most_once(self, ids: Sequence[str], *, worker_id: str) -> None:
        self._db().execute(
            QUERIES["start_at_most_once"], (self.namespace, json.dumps(list(ids)), worker_id)
        )

    @translated
    async def complete(
        self,
        outcomes: Sequence[Outcome],
        *,
        retention: Retention,
        claim: ClaimRequest | None = None,
    ) -> list[Delivery]:
        now = time.time()
        updates = [
            (
                o.status.value,
                o.result,
                o.traceback,
                o.error_type,
                o.finished_at,
                now,
                retention.expiry(o.status, now),
                o.retry.id if o.retry else None,
                o.cancel_reason,
                self.namespace,
                o.id,
            )
            for o in outcomes
        ]
        retries = [o.retry for o in outcomes if o.retry is not None]
        children = [self._insert_row(env, encode_envelope(env), now) for env in retries]
        with self._write() as db:
            db.executemany(QUERIES["complete"], updates)
            if children:
                db.executemany(QUERIES["enqueue"], children)
                self._hand_keys_over(db, retries)
            if claim is None or claim.limit <= 0:
                return []
            self._promote(db)
            return self._claim_in(db, claim.queues, claim.limit, claim.lease, claim.worker_id)

    @translated
    async def release(self, ids: Sequence[str], *, worker_id: str, retention: Retention) -> None:
        now = time.time()
        expires, ns = retention.expiry(TaskStatusEnum.CANCEL, now), self.namespace
        with self._write() as db:
            db.executemany(
                QUERIES["release"],
                [
                    {"now": now, "expires": expires, "id": i, "worker": worker_id, "app": ns}
                    for i in ids
                ],
            )

    @translated
    async def recover_expired(self, *, max_attempts: int, retention: Retention) -> int:
        now = time.time()
        with self._write() as db:
            cancelled = db.execute(
                QUERIES["cancel_expired"],
                {
                    "now": now,
                    "expires": retention.expiry(TaskStatusEnum.CANCEL, now),
                    "app": self.namespace,
                },
            ).rowcount
            failed = db.execute(
                QUERIES["fail_exhausted"],
                {
                    "lost_once": LOST_AT_MOST_ONCE,
                    "lost_often": lost_worker_message(max_attempts),
                    "now": now,
                    "expires": retention.expiry(TaskStatusEnum.ERROR, now),
                    "max_attempts": max_attempts,
                    "app": self.namespace,
                },
            ).rowcount
            requeued = db.execute(QUERIES["recover_expired"], (now, self.namespace, now)).rowcount
        return int(cancelled + failed + requeued)

    @translated
    async def housekeep(self) -> None:
        if self._conn is not None and (why := self._identity.changed()) is not None:
            await self.close()  # the next call opens (or creates) the file at the path
            raise BrokerError(f"{why}: its tasks and results went with it; reopening the path")
        self._db().execute(QUERIES["checkpoint"]).fetchall()

    @translated
    async def purge_expired(self) -> int:
        now = time.time()
        purged = int(self._db().execute(QUERIES["purge_expired"], (self.namespace, now)).rowcount)
        self._purge_keys(now)
        return purged


__all__ = ["QUERIES", "SCHEMA_VERSION", "SQLiteBroker"]
