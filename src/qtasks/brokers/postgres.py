"""``postgresql://`` and ``postgres://``: the PostgreSQL transport (psycopg 3, async, pooled).

The schema and every statement are in ``postgres.sql`` beside this module; the
schema is built by versioned migrations that ``connect()`` (and ``qtasks migrate``)
applies under an advisory lock, so any number of processes may start at once
(``postgres_schema.py``).

A broker serves one app: the app's name (``namespace``) is the ``app`` column of its
rows, and every statement filters by it, each index leading with it; the notification
channels are the app's own too, so one app's enqueues never wake another app's workers.

Workers claim with ``FOR UPDATE SKIP LOCKED`` along a partial index of queued
rows, so a claim costs the same with a thousand or a million tasks waiting.
Every write that makes work available notifies a channel in the same statement;
every write that finishes tasks notifies a second one. One dedicated ``LISTEN``
connection per broker wakes idle claims and result waits, with a slow safety
recheck for a notification lost while that connection was down. Behind a
transaction-pooling PgBouncer, where ``LISTEN`` cannot work, ``?listen=0``
switches both to an adaptive poll.

The URL is handed to libpq as it is, minus the options below, which are qtasks' own:

- ``schema``: where the tables live (default ``public``); letters, digits and ``_``.
- ``listen``: ``1`` (default) to be woken by ``LISTEN/NOTIFY``, ``0`` to poll.
- ``poll_max``: longest poll interval in seconds, with ``listen=0`` (default 0.5).
- ``pool_max``: most connections in the broker's pool (default 4; the listener is extra).
- ``prepare``: ``1`` (default) to use server-side prepared statements, ``0`` not to
  (a transaction-pooling PgBouncer older than 1.21).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, NamedTuple, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow, dict_row
from psycopg_pool import AsyncConnectionPool

from qtasks.brokers.polling import AdaptivePoll, wait_event
from qtasks.brokers.postgres_inspect import PostgresInspect
from qtasks.brokers.postgres_schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    AsyncConn,
    app_key,
    migrate,
    statements,
)
from qtasks.brokers.postgres_unique import PostgresUnique
from qtasks.brokers.postgres_url import PostgresSettings
from qtasks.core.broker import DEFAULT_NAMESPACE, Capabilities
from qtasks.core.envelope import Envelope, encode_envelope
from qtasks.core.errors import (
    LOST_AT_MOST_ONCE,
    WORKER_LOST,
    BrokerError,
    RefusedValueError,
    lost_worker_message,
)
from qtasks.core.records import (
    CancelState,
    ClaimRequest,
    DeadLetterQuery,
    Delivery,
    Outcome,
    Retention,
    StoredTask,
)
from qtasks.core.status import TaskStatusEnum

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Servers already warned about an unverified TLS certificate (see ``_unverified_tls``).
_WARNED_TLS: set[str] = set()

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "PostgresBroker", "PostgresSettings"]

#: With LISTEN, look at the table this often anyway: a notification may have been lost
#: while the listening connection was re-established.
_SAFETY_RECHECK = 1.0
#: Shortest sleep before a look at a task that is due but locked by another claim.
_MIN_NAP = 0.01
#: Seconds to wait for a connection from the pool before failing the operation.
_POOL_TIMEOUT = 10.0
_CONNECT_TIMEOUT = 10

#: Parameter names of the enqueue statement, in the order of ``PostgresBroker._enqueue``.
_ENQUEUE_COLUMNS = "id queue task_name priority eta body created_at retry_parent".split()  # noqa: SIM905


class _Channels(NamedTuple):
    work: str
    """Payload: a queue that has new work."""
    done: str
    """Payload: comma-separated ids of tasks that became final."""


def _channels(schema: str, namespace: str) -> _Channels:
    """Channel names of an app in a schema; a channel name holds at most 63 bytes, and the
    app's name may be any text, so it is spelled as a digest (two names sharing one would
    only wake each other's idle workers for nothing)."""
    stem = f"qtasks.{schema}" if len(schema) <= 40 else f"qtasks.{_digest(schema)}"
    stem = f"{stem}.{_digest(namespace)}"
    return _Channels(work=f"{stem}.work", done=f"{stem}.done")


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]


class PostgresBroker(PostgresInspect, PostgresUnique):
    """The PostgreSQL transport: a connection pool plus one listening connection per broker
    (listings, workers and counts: ``postgres_inspect.py``; unique keys:
    ``postgres_unique.py``)."""

    capabilities = Capabilities(
        native_priority=True, native_delay=True, stores_results=True, pushes_results=True
    )

    def __init__(self, url: str, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.namespace = namespace
        """The app's name: every statement reads and writes this app's rows only."""
        self._app = app_key(namespace)
        self.settings = PostgresSettings.from_url(url)
        schema = self.settings.schema
        self._sql = statements(schema)
        self._channels = _channels(schema, namespace)
        self._pool: AsyncConnectionPool[AsyncConn] | None = None
        self._listener: _Listener | None = None
        self._lock = asyncio.Lock()
        self._idle_poll = AdaptivePoll(minimum=0.005, maximum=self.settings.poll_max, hot=1.0)
        self._blocking: psycopg.Connection[TupleRow] | None = None

    # connections ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Driver and network failures surface as BrokerError, password-free."""
        try:
            yield
        except psycopg.DataError as exc:  # it answered: a value it cannot hold (not "down")
            raise RefusedValueError(
                f"PostgreSQL at {self.settings.location} refused a value: "
                f"{self.settings.scrub(str(exc))}"
            ) from None
        except (psycopg.Error, OSError) as exc:
            raise BrokerError(
                f"PostgreSQL at {self.settings.location} failed: {self.settings.scrub(str(exc))}"
            ) from None

    def _connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"autocommit": True}
        if not self.settings.prepare:
            kwargs["prepare_threshold"] = None
        if "connect_timeout" not in self.settings.conninfo:
            kwargs["connect_timeout"] = _CONNECT_TIMEOUT  # libpq's default is to wait forever
        return kwargs

    async def _open_connection(self) -> AsyncConn:
        return await psycopg.AsyncConnection.connect(
            self.settings.conninfo, **self._connect_kwargs()
        )

    async def connect(self) -> None:
        async with self._lock:
            if self._pool is not None:
                return
            warning = self.settings.unverified_tls
            if warning is not None and self.settings.location not in _WARNED_TLS:
                _WARNED_TLS.add(self.settings.location)  # once per server and process
                log.warning("PostgreSQL at %s: %s", self.settings.location, warning)
            with self._errors():
                # A connection of its own first: a bad URL fails here at once, with libpq's
                # reason, rather than as a pool timeout later.
                async with await self._open_connection() as conn:
                    await self._migrate(conn)
                pool: AsyncConnectionPool[AsyncConn] = AsyncConnectionPool(
                    self.settings.conninfo,
                    kwargs=self._connect_kwargs(),
                    min_size=1,
                    max_size=self.settings.pool_max,
                    timeout=_POOL_TIMEOUT,
                    open=False,
                    name="qtasks",
                )
                await pool.open()
            self._pool = pool

    async def _migrate(self, conn: AsyncConn) -> None:
        """Bring the schema to SCHEMA_VERSION, once, however many processes try at once."""
        await migrate(
            conn,
            self._sql,
            schema=self.settings.schema,
            namespace=self.namespace,
            location=self.settings.location,
        )

    async def close(self) -> None:
        if self._blocking is not None:
            self._blocking.close()
            self._blocking = None
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[AsyncConn]:
        if self._pool is None:
            await self.connect()
        assert self._pool is not None
        with self._errors():
            async with self._pool.connection() as conn:
                yield conn

    async def _retrying(self, work: Callable[[AsyncConn], Awaitable[T]]) -> T:
        """``work`` on a pooled connection; if that connection turns out broken (the server
        closed it while it sat in the pool: a restart, a failover), once more on a fresh
        one. Only statements safe to run twice come here (reads, and writes keyed by id)."""
        if self._pool is None:
            await self.connect()
        assert self._pool is not None
        with self._errors():
            async with self._pool.connection() as conn:
                try:
                    return await work(conn)
                except psycopg.OperationalError:
                    if not conn.broken:
                        raise
            async with self._pool.connection() as conn:  # the broken one was discarded
                return await work(conn)

    async def _rows(self, name: str, params: dict[str, Any] | None = None) -> list[TupleRow]:
        async def run(conn: AsyncConn) -> list[TupleRow]:
            cursor = await conn.execute(self._sql[name], params)
            return await cursor.fetchall() if cursor.description else []

        return await self._retrying(run)

    async def ping(self) -> bool:
        try:
            return bool(_first((await self._rows("ping"))[0]) == 1)
        except BrokerError:
            return False

    # waiting --------------------------------------------------------------------------------

    async def _listening(self) -> _Listener | None:
        """The LISTEN connection, opened on first need (producers never open it)."""
        if not self.settings.listen:
            return None
        async with self._lock:
            if self._listener is None:
                listener = _Listener(self._open_listener, self._channels.done)
                with self._errors():
                    await listener.start()
                self._listener = listener
        return self._listener

    async def _open_listener(self) -> AsyncConn:
        conn = await self._open_connection()
        for channel in self._channels:
            await conn.execute(sql.SQL(self._sql["listen"]).format(channel=sql.Identifier(channel)))
        return conn

    @contextlib.contextmanager
    def _watch(
        self, listener: _Listener | None, channel: str, keys: Sequence[str]
    ) -> Iterator[asyncio.Event | None]:
        if listener is None:
            yield None
        else:
            with listener.watch(channel, keys) as event:
                yield event

    # queue ----------------------------------------------------------------------------------

    def enqueue_statement(
        self, envelopes: Sequence[Envelope], *, counted: bool = True
    ) -> tuple[str, dict[str, Any]]:
        """The statement and parameters that enqueue ``envelopes`` (at least one), adding
        them to the minute's ``enqueued`` count unless not ``counted`` (retry children).

        Public so that a caller can run it on a connection of its own, inside its own
        transaction (Django's, for ``django://`` broker URLs): the tasks then exist, and
        wake workers, only if that transaction commits. Messages with a unique key take
        two statements in a transaction of the broker's own (``enqueue``): ``ValueError``
        (uncounted retry children are inserted as they come: complete hands keys over).
        """
        if counted and any(env.unique_key is not None for env in envelopes):
            raise ValueError("messages with a unique_key need the broker's own enqueue()")
        params = self._enqueue_params(envelopes, arrays=len(envelopes) > 1)
        form = "rows_many" if len(envelopes) > 1 else "rows_one"
        return self._sql[f"enqueue_{form}" if counted else f"enqueue_uncounted_{form}"], params

    def _enqueue_params(self, envelopes: Sequence[Envelope], *, arrays: bool) -> dict[str, Any]:
        rows = [
            (
                env.id,
                env.queue,
                env.task_name,
                env.priority,
                env.eta or None,  # None: the database's now
                encode_envelope(env),  # a TypeError here comes before any write
                env.created_at or None,
                env.retry_of,
            )
            for env in envelopes
        ]
        columns = tuple(map(list, zip(*rows, strict=True))) if arrays else rows[0]
        params = dict(zip(_ENQUEUE_COLUMNS, columns, strict=True))
        params["app"], params["work"] = self._app, self._channels.work
        return params

    async def enqueue(self, envelopes: Sequence[Envelope]) -> dict[str, str]:
        if any(env.unique_key is not None for env in envelopes):
            return await self._enqueue_unique(envelopes)
        if envelopes:
            statement, params = self.enqueue_statement(envelopes)
            await self._retrying(lambda conn: conn.execute(statement, params))
        return {}

    def enqueue_blocking(self, envelopes: Sequence[Envelope]) -> dict[str, str] | None:
        """The same statement on a blocking psycopg connection of this broker, for sync
        callers (see ``core.broker.blocking_caller``): no pool or event-loop turn per call.
        The tables exist: the client connected this broker (migrating) before calling."""
        if any(env.unique_key is not None for env in envelopes):
            return self._on_blocking(self._enqueue_unique_blocking(envelopes))
        if envelopes:
            statement, params = self.enqueue_statement(envelopes)
            self._on_blocking(lambda conn: conn.execute(statement, params))  # keyed by id
        return {}

    def _on_blocking(self, work: Callable[[psycopg.Connection[TupleRow]], T]) -> T:
        """``work`` on the blocking connection; once more on a new one if that turns out
        broken (as ``_retrying``)."""
        with self._errors():
            conn = self._blocking_connection()
            try:
                return work(conn)
            except psycopg.OperationalError:
                if not conn.broken:
                    raise
            return work(self._blocking_connection())

    def _blocking_connection(self) -> psycopg.Connection[TupleRow]:
        conn = self._blocking
        if conn is None or conn.closed or conn.broken:
            conn = self._blocking = psycopg.Connection.connect(
                self.settings.conninfo, **self._connect_kwargs()
            )
        return conn

    def _claim_params(
        self, queues: Sequence[str], limit: int, lease: float, worker_id: str
    ) -> dict[str, Any]:
        return {
            "app": self._app,
            "queues": list(queues),
            "limit": limit,
            "lease": lease,
            "worker": worker_id,
        }

    async def _claim_now(
        self, queues: Sequence[str], limit: int, lease: float, worker_id: str
    ) -> list[Delivery]:
        return _deliveries(
            await self._rows("claim_alone", self._claim_params(queues, limit, lease, worker_id))
        )

    async def claim(
        self, queues: Sequence[str], limit: int, *, lease: float, worker_id: str, wait: float
    ) -> list[Delivery]:
        if wait <= 0:
            return await self._claim_now(queues, limit, lease, worker_id)
        deadline = time.monotonic() + wait
        listener = await self._listening()
        # Watch before looking, so work enqueued between the look and the nap still wakes us.
        with self._watch(listener, self._channels.work, queues) as woken:
            while True:
                if woken is not None:
                    woken.clear()
                got = await self._claim_now(queues, limit, lease, worker_id)
                if got:
                    self._idle_poll.reset()
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                if woken is None:
                    await self._idle_poll.sleep(remaining)
                else:
                    await wait_event(woken, await self._nap_length(queues, remaining))

    async def _nap_length(self, queues: Sequence[str], remaining: float) -> float:
        """Until woken, the next delayed task is due, the safety recheck, or the deadline."""
        rows = await self._rows("seconds_to_due", {"app": self._app, "queues": list(queues)})
        nap = min(remaining, _SAFETY_RECHECK)
        due = _first(rows[0]) if rows else None
        return nap if due is None else min(nap, max(float(due), _MIN_NAP))

    async def extend(self, ids: Sequence[str], *, lease: float, worker_id: str) -> dict[str, str]:
        if not ids:
            return {}
        params = {"app": self._app, "ids": list(ids), "lease": lease, "worker": worker_id}
        rows = await self._rows("extend", params)
        return {str(task_id): str(reason) for task_id, reason in rows if reason is not None}

    async def start_at_most_once(self, ids: Sequence[str], *, worker_id: str) -> None:
        if ids:
            params = {"app": self._app, "ids": list(ids), "worker": worker_id}
            await self._rows("start_at_most_once", params)

    async def complete(
        self,
        outcomes: Sequence[Outcome],
        *,
        retention: Retention,
        claim: ClaimRequest | None = None,
    ) -> list[Delivery]:
        children = [o.retry for o in outcomes if o.retry is not None]
        wanted = claim is not None and claim.limit > 0
        if not children and not wanted:
            if outcomes:
                await self._rows("complete", self._complete_params(outcomes, retention))
            return []
        # Outcomes, retry children and the next claim: one transaction, one round trip.
        async with self._conn() as conn, conn.pipeline(), conn.transaction():
            if outcomes:
                params = self._complete_params(outcomes, retention)
                await conn.execute(self._sql["complete"], params)
            if children:
                await conn.execute(*self.enqueue_statement(children, counted=False))
                handed = self._hand_keys_over(children)
                if handed is not None:  # in this transaction: the parent holds its key
                    await conn.execute(*handed)
            if claim is None or not wanted:
                return []
            params = self._claim_params(claim.queues, claim.limit, claim.lease, claim.worker_id)
            cursor = await conn.execute(self._sql["claim"], params)
            return _deliveries(await cursor.fetchall())

    def _complete_params(self, outcomes: Sequence[Outcome], retention: Retention) -> dict[str, Any]:
        return {
            "apps": [self._app] * len(outcomes),  # each outcome's row is found by its whole key
            "ids": [o.id for o in outcomes],
            "statuses": [o.status.value for o in outcomes],
            "results": [o.result for o in outcomes],
            "tracebacks": [o.traceback for o in outcomes],
            "error_types": [o.error_type for o in outcomes],
            "finished": [o.finished_at for o in outcomes],
            "children": [o.retry.id if o.retry else None for o in outcomes],
            "reasons": [o.cancel_reason for o in outcomes],
            "ttl": retention.result_ttl,
            "dead_ttl": retention.dead_ttl,
            "done": self._channels.done,
        }

    async def release(self, ids: Sequence[str], *, worker_id: str, retention: Retention) -> None:
        if ids:
            params = {
                "app": self._app,
                "ids": list(ids),
                "worker": worker_id,
                "ttl": retention.result_ttl,
                "work": self._channels.work,
                "done": self._channels.done,
            }
            await self._rows("release", params)

    async def recover_expired(self, *, max_attempts: int, retention: Retention) -> int:
        rows = await self._rows(
            "recover_expired",
            {
                "app": self._app,
                "message": lost_worker_message(max_attempts),
                "lost_once": LOST_AT_MOST_ONCE,
                "error_type": WORKER_LOST,
                "ttl": retention.result_ttl,
                "dead_ttl": retention.dead_ttl,
                "max_attempts": max_attempts,
                "work": self._channels.work,
                "done": self._channels.done,
            },
        )
        return int(_first(rows[0]))

    async def housekeep(self) -> None:
        await self._rows("promote_due", {"app": self._app})  # autovacuum does the rest

    async def purge_expired(self) -> int:
        async with self._conn() as conn:
            return (await conn.execute(self._sql["purge_expired"], {"app": self._app})).rowcount

    # cancellation and dead letters -------------------------------------------------------

    async def cancel(self, task_id: str, reason: str, *, retention: Retention) -> CancelState:
        params = {
            "app": self._app,
            "id": task_id,
            "reason": reason,
            "ttl": retention.result_ttl,
            "done": self._channels.done,
        }
        rows = await self._rows("cancel", params)
        if not rows:
            return CancelState.UNKNOWN
        return {"new": CancelState.CANCELLED, "process": CancelState.REQUESTED}.get(
            str(rows[0][0]), CancelState.FINISHED
        )

    def _dead_params(self, query: DeadLetterQuery) -> dict[str, Any]:
        return {
            "app": self._app,
            "ids": None if query.ids is None else list(query.ids),
            "task_name": query.task_name,
            "queues": None if query.queues is None else list(query.queues),
            "limit": query.limit,
        }

    async def dead_letters(self, query: DeadLetterQuery) -> list[StoredTask]:
        return await self._tasks("dead_letters", self._dead_params(query))

    async def requeue_dead(self, query: DeadLetterQuery) -> int:
        params = {**self._dead_params(query), "work": self._channels.work}
        return int(_first((await self._rows("requeue_dead", params))[0]))

    async def purge_dead(self, query: DeadLetterQuery) -> int:
        async with self._conn() as conn:
            return (await conn.execute(self._sql["purge_dead"], self._dead_params(query))).rowcount

    # results --------------------------------------------------------------------------------

    async def _tasks(self, name: str, params: dict[str, Any]) -> list[StoredTask]:
        """Rows of ``task_columns`` as StoredTasks."""
        async with self._conn() as conn:
            cursor = conn.cursor(row_factory=dict_row)  # columns named as StoredTask's fields
            await cursor.execute(self._sql[name], params)
            rows = await cursor.fetchall()
        for row in rows:
            row["status"] = TaskStatusEnum(row["status"])
            row["worker_ids"] = tuple(row["worker_ids"])
        return [StoredTask(**row) for row in rows]

    async def get(self, task_id: str) -> StoredTask | None:
        found = await self._tasks("get", {"app": self._app, "id": task_id})
        return found[0] if found else None

    async def wait(self, task_id: str, timeout: float) -> StoredTask | None:
        deadline = time.monotonic() + timeout
        listener = await self._listening()
        poll = AdaptivePoll(minimum=0.005, maximum=self.settings.poll_max, hot=1.0)
        with self._watch(listener, self._channels.done, [task_id]) as woken:
            while True:
                if woken is not None:
                    woken.clear()
                stored = await self.get(task_id)
                remaining = deadline - time.monotonic()
                if stored is None or stored.status.is_final or remaining <= 0:
                    return stored
                if woken is None:
                    await poll.sleep(remaining)
                else:
                    await wait_event(woken, min(remaining, _SAFETY_RECHECK))

    async def count(self, queues: Sequence[str] | None = None) -> dict[str, int]:
        params = {"app": self._app, "queues": list(queues) if queues else None}
        rows = await self._rows("count", params)
        return {str(status): int(n) for status, n in rows}

    async def flush_all(self) -> None:
        await self._rows("flush_all", {"app": self._app})


class _Listener:
    """A broker's one LISTEN connection: wakes idle claims by queue, result waits by id.

    A waiter registers an event before it looks at the table, so a notification that
    lands between the look and the sleep still wakes it. When the connection drops,
    every waiter is woken (notifications may have been lost) and it reconnects.
    """

    def __init__(self, connect: Callable[[], Awaitable[AsyncConn]], done_channel: str) -> None:
        self._connect = connect
        self._done_channel = done_channel
        self._waiters: dict[str, dict[str, set[asyncio.Event]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        conn = await self._connect()
        self._reader = asyncio.get_running_loop().create_task(self._read(conn))

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None

    @contextlib.contextmanager
    def watch(self, channel: str, keys: Sequence[str]) -> Iterator[asyncio.Event]:
        table = self._waiters.setdefault(channel, {})
        event = asyncio.Event()
        for key in keys:
            table.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            for key in keys:
                events = table.get(key)
                if events is not None:
                    events.discard(event)
                    if not events:
                        del table[key]

    def _dispatch(self, channel: str, payload: str) -> None:
        table = self._waiters.get(channel)
        if not table:
            return
        keys = payload.split(",") if channel == self._done_channel else (payload,)
        for key in keys:
            for event in table.get(key, ()):
                event.set()

    def _wake_all(self) -> None:
        for table in self._waiters.values():
            for events in table.values():
                for event in events:
                    event.set()

    async def _read(self, conn: AsyncConn) -> None:
        while True:
            try:
                async with conn:  # closed on the way out, cancellation included
                    async for note in conn.notifies():
                        self._dispatch(note.channel, note.payload)
            except (psycopg.Error, OSError) as exc:
                log.warning("the LISTEN connection failed (%s); reconnecting", type(exc).__name__)
            self._wake_all()
            conn = await self._reconnect()
            self._wake_all()  # what was notified while it was down is looked up now

    async def _reconnect(self) -> AsyncConn:
        delay = 0.1
        while True:
            await asyncio.sleep(delay)
            try:
                conn: AsyncConn = await self._connect()
                return conn
            except (psycopg.Error, OSError):
                delay = min(delay * 2, 5.0)


def _first(row: TupleRow | None) -> Any:
    return None if row is None else row[0]


def _deliveries(rows: list[TupleRow]) -> list[Delivery]:
    rows.sort(key=lambda r: (-r[4], r[5], r[0]))  # RETURNING does not keep the claim's order
    return [Delivery(id=r[0], body=r[1], attempt=r[2], worker_ids=tuple(r[3])) for r in rows]
