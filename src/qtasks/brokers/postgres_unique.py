"""The PostgreSQL broker's unique keys (``qtasks_unique``, migration 6 in ``postgres.sql``;
the rule is ``core/unique.py``'s): taken by an enqueue of two statements, ``lock_keys``
then ``enqueue_unique``; handed to a retry's new attempt in the complete's transaction;
read by schedules; purged once free for good by ``purge_expired`` (:class:`PostgresUnique`,
a part of :class:`~qtasks.brokers.postgres.PostgresBroker`).

Why two statements: under READ COMMITTED a statement reads one snapshot, taken as it
starts. ``INSERT ... ON CONFLICT DO UPDATE ... WHERE <the rule>`` that waits for a racing
producer's transaction then judges the key row that transaction committed, but reads the
holder's status from the snapshot taken before the wait, which lacks the task row
committed with that key row: the holder looks gone, and both producers make a task. So
``lock_keys`` only locks (waiting), and ``enqueue_unique``, started after it, has a
snapshot with every holder its locks waited for.

Both go in one pipeline with no Sync between them, so the server runs them in one
(implicit) transaction, committed at the Sync: one round trip. (``conn.transaction()`` in
a pipeline costs three more: psycopg syncs after BEGIN, before COMMIT and after it.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg.rows import TupleRow

from qtasks.brokers.postgres_schema import AsyncConn
from qtasks.core.envelope import Envelope

T = TypeVar("T")
#: A statement and its parameters.
Statement = tuple[str, dict[str, Any]]


def key_digest(key: str) -> bytes:
    """How ``qtasks_unique`` keys a unique key: the sha256 of its UTF-8 (a key may be 4000
    bytes, more than a btree entry holds)."""
    return hashlib.sha256(key.encode("utf-8")).digest()


class PostgresUnique:
    if TYPE_CHECKING:  # the broker's own, used here
        _app: bytes
        _sql: dict[str, str]

        def _enqueue_params(
            self, envelopes: Sequence[Envelope], *, arrays: bool
        ) -> dict[str, Any]: ...

        async def _retrying(self, work: Callable[[AsyncConn], Awaitable[T]]) -> T: ...

        async def _rows(
            self, name: str, params: dict[str, Any] | None = None
        ) -> list[TupleRow]: ...

    def _unique_statements(self, envelopes: Sequence[Envelope]) -> tuple[Statement, Statement]:
        """``lock_keys`` and ``enqueue_unique`` for a call with unique messages."""
        params = self._enqueue_params(envelopes, arrays=True)  # encodes: a TypeError first
        digests = [None if e.unique_key is None else key_digest(e.unique_key) for e in envelopes]
        params["digest"] = digests
        params["until"] = [e.unique_until for e in envelopes]
        params["after"] = [e.unique_after or None for e in envelopes]  # None: the clock's now
        params["while_running"] = [e.unique_while_running for e in envelopes]
        first: dict[tuple[str, bytes], Envelope] = {}  # each key once, with its first message
        for env, digest in zip(envelopes, digests, strict=True):
            if digest is not None:
                first.setdefault((env.queue, digest), env)
        lock = {
            "app": self._app,
            "queue": [queue for queue, _ in first],
            "digest": [digest for _, digest in first],
            "key": [env.unique_key for env in first.values()],
            "id": [env.id for env in first.values()],
        }
        return (self._sql["lock_keys"], lock), (self._sql["enqueue_unique"], params)

    async def _enqueue_unique(self, envelopes: Sequence[Envelope]) -> dict[str, str]:
        lock, enqueue = self._unique_statements(envelopes)

        async def run(conn: AsyncConn) -> dict[str, str]:
            async with conn.pipeline():  # one transaction: no Sync between the two
                await conn.execute(*lock)
                cursor = await conn.execute(*enqueue)
            return _held(await cursor.fetchall())

        return await self._retrying(run)  # sent again, it finds the keys it took its own

    def _enqueue_unique_blocking(
        self, envelopes: Sequence[Envelope]
    ) -> Callable[[psycopg.Connection[TupleRow]], dict[str, str]]:
        """The same on a blocking connection (``enqueue_blocking``'s)."""
        lock, enqueue = self._unique_statements(envelopes)

        def run(conn: psycopg.Connection[TupleRow]) -> dict[str, str]:
            with conn.pipeline():
                conn.execute(*lock)
                cursor = conn.execute(*enqueue)
            return _held(cursor.fetchall())

        return run

    def _hand_keys_over(self, children: Sequence[Envelope]) -> Statement | None:
        """Retry attempts take their keys over from the attempts they retry (None: no key)."""
        keyed = [(c, key_digest(c.unique_key)) for c in children if c.unique_key is not None]
        if not keyed:
            return None
        params = {
            "app": self._app,
            "queue": [c.queue for c, _ in keyed],
            "digest": [digest for _, digest in keyed],
            "child": [c.id for c, _ in keyed],
            "parent": [c.retry_of for c, _ in keyed],
        }
        return self._sql["hand_keys_over"], params

    async def unique_hold(self, queue: str, key: str) -> tuple[str, float] | None:
        params = {"app": self._app, "queue": queue, "digest": key_digest(key)}
        rows = await self._rows("key_holder", params)
        return (str(rows[0][0]), float(rows[0][1])) if rows else None


def _held(rows: list[TupleRow]) -> dict[str, str]:
    """``enqueue_unique``'s answer: held message -> holder (the row of NULLs is the
    notifications')."""
    return {str(task_id): str(holder) for task_id, holder in rows if task_id is not None}


__all__ = ["PostgresUnique", "key_digest"]
