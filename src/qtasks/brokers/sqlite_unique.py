"""The SQLite broker's unique keys (``qtasks_unique`` in ``sqlite.sql``; the rule is
``core/unique.py``'s): taken in the enqueue's transaction, handed to a retry's new attempt
in the complete's, read by schedules, purged once free for good (:class:`SQLiteUnique`, a
part of :class:`~qtasks.brokers.sqlite.SQLiteBroker`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from qtasks.brokers.sqlite_faults import translated
from qtasks.brokers.sqlite_schema import QUERIES
from qtasks.core.envelope import Envelope


class SQLiteUnique:
    if TYPE_CHECKING:  # the broker's own, used here
        namespace: str

        def _db(self) -> sqlite3.Connection: ...

    def _take_keys(
        self, db: sqlite3.Connection, envelopes: Sequence[Envelope], now: float
    ) -> dict[str, str]:
        """Take the keys of ``envelopes`` that have one, in order, inside the caller's
        write transaction; returns those whose key is held, id -> the holder's id."""
        held: dict[str, str] = {}
        taken: dict[tuple[str, str], str] = {}  # by an earlier message of this batch, whose
        for env in envelopes:  # row is not inserted yet: it waits, so it holds the key
            if env.unique_key is None:
                continue
            first = taken.get((env.queue, env.unique_key))
            if first is not None and env.unique_while_running:
                held[env.id] = first
                continue
            params = {
                "app": self.namespace,
                "queue": env.queue,
                "key": env.unique_key,
                "id": env.id,
                "until": env.unique_until,
                "after": env.unique_after or now,
                "while_running": 1 if env.unique_while_running else 0,
            }
            if db.execute(QUERIES["take_key"], params).fetchone() is None:
                row = db.execute(
                    QUERIES["key_holder"], (self.namespace, env.queue, env.unique_key)
                ).fetchone()
                held[env.id] = row[0]
            else:
                taken[env.queue, env.unique_key] = env.id
        return held

    def _hand_keys_over(self, db: sqlite3.Connection, children: Sequence[Envelope]) -> None:
        """Retry attempts take their keys over from the attempts they retry."""
        rows = [
            {
                "app": self.namespace,
                "queue": c.queue,
                "key": c.unique_key,
                "child": c.id,
                "parent": c.retry_of,
            }
            for c in children
            if c.unique_key is not None
        ]
        if rows:
            db.executemany(QUERIES["hand_key_over"], rows)

    def _purge_keys(self, now: float) -> None:
        self._db().execute(QUERIES["purge_keys"], {"app": self.namespace, "now": now})

    @translated
    async def unique_hold(self, queue: str, key: str) -> tuple[str, float] | None:
        row = self._db().execute(QUERIES["key_holder"], (self.namespace, queue, key)).fetchone()
        return None if row is None else (row[0], float(row[1]))


__all__ = ["SQLiteUnique"]
