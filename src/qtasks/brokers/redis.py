"""The Redis transport (redis-py asyncio with hiredis), on one server, a Cluster or Sentinel.

URLs: ``redis://`` and ``rediss://`` (one server, TLS), ``redis+cluster://`` and
``rediss+cluster://`` (a Redis Cluster, seed nodes comma-separated), ``redis+sentinel://``
(the master of a Sentinel service). The key schema and every script are in ``redis.lua``
beside this module. Each multi-key step (enqueue, claim, store outcomes and claim again,
extend, release, recover) is one Lua script on the keys of one queue, which share a hash
tag, so every step is atomic and stays in one cluster slot. Idle workers block on
wake-up lists (``BLPOP``), never sleep-poll; result waits subscribe to a per-task
channel in the queue's slot that the completing script publishes to.

One server and a cluster run the same scripts and the same code here. Two things differ,
both because a cluster script may only touch its own slot: the keys outside any queue's
slot (task-id pointers, the queue registry) are written by this module instead of by the
scripts, and results are announced on shard channels (``SPUBLISH``/``SSUBSCRIBE``).

A broker serves one app (its ``namespace``, the app's name): every key it reads or writes
starts with that app's prefix, and the app's name is inside each queue's hash tag too, so
a cluster keeps one slot per (app, queue) and two apps on one Redis share no key. The
first use of a broker instance looks (one ``EXISTS``) for keys of the layout before
namespaces and, if there are any, moves them into its app's namespace
(``redis_upgrade.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import parse_url as parse_redis_options
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelManagedConnection
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException
from redis.exceptions import TimeoutError as RedisTimeoutError

from qtasks.brokers.redis_blocking import BACKOFF, RETRIES, BlockingScript
from qtasks.brokers.redis_inspect import RedisInspect, hash_reply, stored_task
from qtasks.brokers.redis_unique import RedisUnique, held_of, with_unique_fields
from qtasks.brokers.redis_url import RedisUrl
from qtasks.brokers.sqlfile import load_queries
from qtasks.core.broker import DEFAULT_NAMESPACE, Capabilities
from qtasks.core.envelope import Envelope, encode_envelope
from qtasks.core.errors import (
    LOST_AT_MOST_ONCE,
    WORKER_LOST,
    BrokerError,
    ConfigurationError,
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

_SCRIPTS = load_queries("qtasks.brokers", "redis.lua")
PREFIX = "qtasks"
_INT32 = 2**31 - 1
#: Expired results forgotten per purge script call (their ids come back in one reply).
_PURGE_BATCH = 1000
#: A broker adds a queue to its app's registry with its first enqueue there, then again
#: at most this often (seconds): the registry is a set, and a flush may have emptied it.
_REGISTER_EVERY = 10.0
#: A waiting worker's entry in S idle outlives its wait by this much (seconds): the round
#: trips between its claim and its blocking pop (redis.lua: S idle).
_IDLE_MARGIN = 0.5
#: What ``interrupt_wait`` pushes into a waiting worker's inboxes (no task has this form).
_STOP = b"stop"
#: The longest single blocking pop of an idle worker: delayed tasks push no wake-up, so a
#: worker looks again at least this often for ones that came due.
_BLOCK_MAX = 1.0

Client = Redis | RedisCluster


#: Percent-encoded in app and queue names within keys (see redis.lua).
_ESCAPES = str.maketrans({"%": "%25", "{": "%7B", "}": "%7D", ":": "%3A"})
#: What ``SCAN MATCH`` reads as a wildcard or an escape.
_GLOB = re.compile(r"([*?\[\]\\])")


def escape(name: str) -> str:
    """``name`` with ``%``, braces and ``:`` percent-encoded: no brace ends a hash tag
    early, and no ``:`` lets the keys of two names run together."""
    return name.translate(_ESCAPES)


def app_prefix(namespace: str) -> str:
    """``qtasks:<app>:``: every key of the app starts with it (see redis.lua)."""
    return f"{PREFIX}:{escape(namespace)}:"


@functools.lru_cache(maxsize=4096)
def queue_stem(namespace: str, queue: str) -> str:
    """``qtasks:<app>:{<app>:<queue>}:``, the start of every key of one queue of one app:
    the hash tag holds both names, so a cluster keeps one slot per (app, queue)."""
    return f"{app_prefix(namespace)}{{{escape(namespace)}:{escape(queue)}}}:"


def pointer(namespace: str, task_id: str) -> str:
    """``qtasks:<app>:loc:<id>``: the key stem of the task's queue, for lookups by id."""
    return f"{app_prefix(namespace)}loc:{task_id}"


def registry(namespace: str) -> str:
    """``qtasks:<app>:queues``: the set of the key stems of every queue the app used."""
    return f"{app_prefix(namespace)}queues"


def workers_stem(namespace: str) -> str:
    """``qtasks:<app>:{<app>}:``, the start of the keys of the app's worker records: all in
    the app's own slot (see redis.lua)."""
    return f"{app_prefix(namespace)}{{{escape(namespace)}}}:"


def glob_escape(text: str) -> str:
    """``text`` as a literal in a ``SCAN MATCH`` pattern."""
    return _GLOB.sub(r"\\\1", text)


def ready_member(envelope: Envelope, eta: float) -> str:
    """Sorts as: higher priority, earlier eta, then id (time-ordered): see redis.lua."""
    priority = max(-_INT32, min(_INT32, envelope.priority))
    return f"{_INT32 - priority:08x}{int(eta * 1000):012x}{envelope.id}"


def _retry() -> Retry:
    """How a command whose connection broke is run again (``redis_blocking.RETRIES``)."""
    return Retry(BACKOFF, RETRIES)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def safe_url(url: str) -> str:
    """The URL as errors show it: no credentials, no query (it may hold a password)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


# URLs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisTarget(RedisUrl):
    """What a Redis URL points at (checked in full by ``RedisTarget.parse``, see
    ``redis_url.py``), and how to reach it."""

    def connect(self) -> tuple[Client, Sentinel | None]:
        """A client (not connected yet) and, for Sentinel, the Sentinel client to close too."""
        if self.kind == "server":
            # A pooled connection the server closed (a restart, an idle timeout) fails its
            # next command once: retried on a fresh connection, the caller never sees it.
            # Only connection errors: a frozen server's timeout is reported, not repeated.
            client = Redis.from_url(
                self.options_url,
                decode_responses=False,
                retry=_retry(),
                retry_on_error=[RedisConnectionError],
            )
            return client, None
        if self.kind == "cluster":
            if not hasattr(RedisCluster, "pubsub"):  # result waits need sharded pub/sub
                raise ConfigurationError("Redis Cluster needs redis-py 8 or newer")
            seeds = [ClusterNode(host, port) for host, port in self.hosts[1:]]
            return RedisCluster.from_url(self.options_url, startup_nodes=seeds), None
        options: dict[str, Any] = dict(parse_redis_options(self.options_url))
        for unused in ("host", "port", "connection_class"):
            options.pop(unused, None)
        # A client made by Redis(...) retries a command whose connection broke; one made
        # by master_for does not unless told. After a failover every pooled connection to
        # the old master breaks once: the retry runs the command on the new master.
        options.setdefault("retry", _retry())
        sockets = {k: v for k, v in options.items() if k.startswith("socket_")}
        # One try per Sentinel per discovery: discovery goes on to the next Sentinel, and
        # the master connection's retry runs it again (a refused password fails fast).
        once = Retry(NoBackoff(), 0)
        untyped: Any = Sentinel  # typed in some redis-py releases, not in others
        sentinel = untyped(
            list(self.hosts), sentinel_kwargs={**sockets, **self.sentinel_auth, "retry": once}
        )
        master: Redis = sentinel.master_for(
            self.service, connection_class=_SentinelConnection, **options
        )
        return master, sentinel


class _SentinelConnection(SentinelManagedConnection):
    """A master connection that asks the Sentinels where the master is on every reconnect.

    redis-py's own (8.1) does so only when the pool hands it out; a retried command
    reconnects through ``connect_check_health`` to the address it had, the old master
    (redis-py issue #3874), so every retry after a failover would fail.
    """

    async def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        if retry_socket_connect and not self.is_connected:  # not from connect_to(address)
            await self.connect()  # type: ignore[no-untyped-call]  # asks the Sentinels
            return
        await super().connect_check_health(check_health, retry_socket_connect)


# the transport ----------------------------------------------------------------------------


class RedisBroker(RedisInspect, RedisUnique):
    """The Redis transport: one client (and connection pool) per broker instance; what
    operators read (listings, depths, workers, counts) is in ``redis_inspect.py``, unique
    keys in ``redis_unique.py``."""

    capabilities = Capabilities(
        native_priority=True, native_delay=True, stores_results=True, pushes_results=True
    )

    def __init__(self, url: str, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.namespace = namespace
        """The app's name: every key this broker touches is in its namespace (redis.lua)."""
        self._loc = app_prefix(namespace) + "loc:"
        self._registry = registry(namespace)
        self._workers = workers_stem(namespace)
        self.url = url
        self.target = RedisTarget.parse(url)
        self.cluster = self.target.kind == "cluster"
        """Keys outside a queue's slot are written here, not by the scripts (see redis.lua)."""
        self._redis: Client | None = None
        self._sentinel: Sentinel | None = None
        self._scripts: dict[str, Any] = {}
        self._blocking_enqueue: BlockingScript | None = None
        self._registered: dict[str, float] = {}  # stem -> when to register it again
        self._waiting: set[str] = set()  # workers in a waiting claim (interrupt_wait)
        self._upgraded = False
        """The first use looked for data of the layout before namespaces (and moved it)."""

    def _stem(self, queue: str) -> str:
        return queue_stem(self.namespace, queue)

    def _inbox(self, queue: str, worker_id: str) -> str:
        """The list an enqueue hands ``worker_id`` its tasks in (redis.lua: S inbox:<w>)."""
        return self._stem(queue) + "inbox:" + worker_id

    def _pointer(self, task_id: str) -> str:
        return self._loc + task_id

    def _client(self) -> Client:
        """The client, made (not connected) on first use; use ``_open`` in coroutines."""
        if self._redis is None:
            self._redis, self._sentinel = self.target.connect()
            for name in (
                "enqueue",
                "claim",
                "complete",
                "extend",
                "release",
                "recover",
                "counts",
                "purge",
                "once",
                "unidle",
                "cancel",
                "dead",
                "list",
                "beat",
                "stopped",
                "workers",
            ):
                self._scripts[name] = self._redis.register_script(self._script_text(name))
        return self._redis

    def _script_text(self, name: str) -> str:
        """A script of redis.lua as loaded: the mode line, the prelude, then its body."""
        mode = f"local CLUSTER = {'true' if self.cluster else 'false'}"
        return f"{mode}\n{_SCRIPTS['prelude']}\n{_SCRIPTS[name]}"

    async def _open(self) -> Client:
        """The client. Its first use by this instance moves any data of the layout before
        namespaces into this app's (``redis_upgrade``): one ``EXISTS`` when there is none."""
        client = self._client()
        if not self._upgraded:
            from qtasks.brokers.redis_upgrade import upgrade  # only read on first use

            with self._errors():
                await upgrade(client, self.namespace)
            self._upgraded = True
        return client

    async def _run(self, name: str, stem: str, args: Sequence[Any]) -> Any:
        if not self._upgraded:
            await self._open()  # also registers the scripts
        with self._errors():
            return await self._scripts[name](keys=[stem], args=list(args))

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Connection and authentication failures surface as BrokerError, password-free."""
        try:
            yield
        except (OSError, RedisConnectionError, RedisTimeoutError, RedisClusterException) as exc:
            raise BrokerError(f"Redis at {safe_url(self.url)} failed: {exc}") from exc

    async def connect(self) -> None:
        await self._open()

    async def close(self) -> None:
        if self._blocking_enqueue is not None:
            self._blocking_enqueue.close()
            self._blocking_enqueue = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        if self._sentinel is not None:
            await self._sentinel.aclose()
            self._sentinel = None

    async def ping(self) -> bool:
        try:
            return bool(await self._client().ping())
        except Exception:
            return False

    # keys outside the queues' slots ---------------------------------------------------

    async def _point(self, stems: dict[str, str]) -> None:
        """Cluster: write the pointers of new tasks and register their queues.

        Runs BEFORE the script that creates the tasks, in its own round trip (a cluster
        pipeline sends to each node at once, in no order between nodes). So a pointer
        never misses a task: if the script fails or the process dies in between, what is
        left is a pointer to no record, which ``get`` reads as unknown, which costs one
        small key, never a task. The other order could leave a task that ``get``,
        ``extend`` and ``wait`` cannot find, rerun on every lease expiry. Pointers of
        finished tasks are deleted by ``purge_expired`` once their records expire.
        """
        if not stems:
            return
        pipe = (await self._open()).pipeline(transaction=False)
        for task_id, stem in stems.items():
            pipe.set(self._pointer(task_id), stem)
        pipe.sadd(self._registry, *set(stems.values()))
        with self._errors():
            await pipe.execute()

    async def _by_stem(self, ids: Sequence[str]) -> dict[str, list[str]]:
        """Group task ids by the key stem of their queue (read from their pointers)."""
        if not ids:
            return {}
        client = await self._open()
        keys = [self._pointer(i) for i in ids]
        with self._errors():
            if isinstance(client, RedisCluster):  # pointers lie in many slots
                stems = await client.mget_nonatomic(keys)
            else:
                stems = await client.mget(keys)
        grouped: dict[str, list[str]] = {}
        for task_id, stem in zip(ids, stems, strict=True):
            if stem is not None:
                grouped.setdefault(_decode(stem), []).append(task_id)
        return grouped

    async def _stems(self) -> list[str]:
        """Key stems of every queue ever used (the registry)."""
        with self._errors():
            members = await (await self._open()).smembers(self._registry)
        return sorted(_decode(m) for m in members)

    # queue ------------------------------------------------------------------------------

    @staticmethod
    def _enqueue_fields(env: Envelope, body: bytes, now: float) -> list[Any]:
        eta = env.eta or now
        return [
            env.id,
            ready_member(env, eta),
            repr(eta),
            body,
            env.priority,
            env.task_name,
            repr(env.created_at or now),
            _text(env.retry_of),
        ]

    def _enqueue_calls(self, envelopes: Sequence[Envelope]) -> list[tuple[str, list[Any]]]:
        """The ``enqueue`` script calls for ``envelopes``: (key stem, arguments), one per queue."""
        now = time.time()
        by_queue: dict[str, list[Any]] = {}
        keyed = False
        for env in envelopes:
            fields = self._enqueue_fields(env, encode_envelope(env), now)
            by_queue.setdefault(env.queue, []).extend(fields)
            if env.unique_key is not None:
                keyed = True
        calls = [
            (stem := self._stem(q), [repr(now), q, self._register(stem), *args])
            for q, args in by_queue.items()
        ]
        if keyed:  # (only then: the calls of other messages stay as they were)
            with_unique_fields(calls, envelopes)
        return calls

    def _register(self, stem: str) -> str:
        """``'1'`` when this enqueue should add the queue to the app's registry: the first
        to it from this broker, then once every :data:`_REGISTER_EVERY` seconds (the
        registry may have been flushed meanwhile), so not one ``SADD`` per task."""
        now = time.monotonic()
        if now < self._registered.get(stem, 0.0):
            return "0"
        self._registered[stem] = now + _REGISTER_EVERY
        return "1"

    async def enqueue(self, envelopes: Sequence[Envelope]) -> dict[str, str]:
        calls = self._enqueue_calls(envelopes)
        if self.cluster:
            await self._point({env.id: self._stem(env.queue) for env in envelopes})
        held: dict[str, str] = {}
        for stem, args in calls:  # one round trip per queue
            if reply := await self._run("enqueue", stem, args):
                held.update(held_of(reply))
        if held and self.cluster:
            await self._unpoint(held)
        return held

    def enqueue_blocking(self, envelopes: Sequence[Envelope]) -> dict[str, str] | None:
        """The same script calls on a blocking connection, for sync callers (see
        ``core.broker.blocking_caller`` and ``redis_blocking.py``): no event loop, no
        client object around the socket. One server only: a cluster's pointers and a
        Sentinel's discovery stay on the async path. So does a first call before
        ``connect``: that path's first use moves data of the layout before namespaces
        (``_open``), and this one has none."""
        if self.target.kind != "server" or not self._upgraded:
            return None
        calls = self._enqueue_calls(envelopes)  # a TypeError here comes before any write
        held: dict[str, str] = {}
        with self._errors():
            if self._blocking_enqueue is None:
                self._blocking_enqueue = BlockingScript(
                    self.target.options_url, self._script_text("enqueue")
                )
            for stem, args in calls:
                if reply := self._blocking_enqueue(stem, args):
                    held.update(held_of(reply))
        return held

    async def claim(
        self, queues: Sequence[str], limit: int, *, lease: float, worker_id: str, wait: float
    ) -> list[Delivery]:
        """Claim; with ``wait``, an empty claim leaves the worker in each queue's S idle
        set, so an enqueue hands it the new task in its wake-up (``S inbox:<w>``, see
        redis.lua): no second round trip to claim what woke it."""
        entry = _idle_entry(worker_id, lease)
        if wait <= 0:
            return await self._claim_now(queues, limit, lease, worker_id, entry, "")
        deadline = time.monotonic() + wait
        groups = self._wake_lists(queues, worker_id)
        self._waiting.add(worker_id)
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                got = await self._claim_waiting(queues, limit, lease, worker_id, entry, remaining)
                if got:
                    return got
                handed = await self._block(groups, max(0.01, min(remaining, _BLOCK_MAX)))
                if handed is None:  # interrupt_wait: the worker stops
                    break
                if handed:
                    return handed
            # done waiting: out of every S idle, with what was handed to it meanwhile
            return await self._claim_now(queues, 0, lease, worker_id, entry, "", every=True)
        except asyncio.CancelledError:  # no task may stay handed to it unseen
            await asyncio.shield(self._unidle(queues, worker_id, entry))
            raise
        finally:
            self._waiting.discard(worker_id)

    async def interrupt_wait(self, worker_id: str, queues: Sequence[str]) -> bool:
        """End a waiting claim of ``worker_id`` at once (a stopping worker): it returns what
        was handed to it, and leaves the queues' S idle sets; False if it was not waiting.
        Cancelling it instead could lose a hand-over popped in that instant to the
        cancelled pop (it would come back only when its lease expires)."""
        if worker_id not in self._waiting:
            return False
        pipe = (await self._open()).pipeline(transaction=False)
        for queue in queues:
            box = self._inbox(queue, worker_id)
            pipe.rpush(box, _STOP)
            pipe.pexpire(box, 60_000)
        with self._errors():
            await pipe.execute()
        return True

    async def _claim_waiting(
        self,
        queues: Sequence[str],
        limit: int,
        lease: float,
        worker_id: str,
        entry: str,
        remaining: float,
    ) -> list[Delivery]:
        """A claim that lists the worker as waiting in each queue that has nothing for it.
        Only a claim that found nothing anywhere may leave it listed (a busy worker could
        sit on handed tasks past their leases): when a later queue had tasks, the queues
        before it take it out again, with what they handed it meanwhile."""
        idle_until = self._idle_until(remaining)
        got: list[Delivery] = []
        listed: list[str] = []  # queues whose claim found nothing, so listed the worker
        for queue in queues:
            if len(got) >= limit:
                break
            claimed = await self._claim_now(
                [queue], limit - len(got), lease, worker_id, entry, idle_until
            )
            if not claimed:
                listed.append(queue)
            got += claimed
        if got and listed:
            got += await self._claim_now(listed, 0, lease, worker_id, entry, "", every=True)
        return got

    @staticmethod
    def _idle_until(wait: float) -> str:
        """When a wait of ``wait`` seconds from now ends, with a margin for the round trips
        (``''``: no wait, so the claim does not list the worker as waiting)."""
        if wait <= 0:
            return ""
        return repr(time.time() + max(0.01, min(wait, _BLOCK_MAX)) + _IDLE_MARGIN)

    async def _unidle(self, queues: Sequence[str], worker_id: str, entry: str) -> None:
        """A worker stops waiting for good: out of S idle, its handed tasks released."""
        with contextlib.suppress(Exception):  # the broker is down: their leases expire
            for queue in queues:
                args = [repr(time.time()), worker_id, entry, ""]
                await asyncio.wait_for(self._run("unidle", self._stem(queue), args), 5.0)

    def _wake_lists(self, queues: Sequence[str], worker_id: str) -> list[list[str]]:
        """The lists an idle worker blocks on, each queue's inbox for it and wake-up list,
        one ``BLPOP`` per group: all in one on a server; one per slot on a cluster, where a
        multi-key command must stay in one slot."""
        keys = [key for q in queues for key in (self._inbox(q, worker_id), self._stem(q) + "wake")]
        if not self.cluster:
            return [keys]
        by_slot: dict[int, list[str]] = {}
        for key in keys:
            by_slot.setdefault(key_slot(key.encode()), []).append(key)
        return list(by_slot.values())

    async def _block(self, groups: list[list[str]], timeout: float) -> list[Delivery] | None:
        """Block until a list of any group gets an item, or ``timeout``; a task handed over
        in an inbox is returned (a wake-up token is not), ``None`` for ``interrupt_wait``.

        Several groups (a cluster worker on queues in several slots) pop at once, one
        connection each; the first to return cancels the others. redis-py drops the
        connection of a cancelled command, so the server forgets that pop: an item is lost
        only if it was popped in the instant before — a token, and then the worker claims
        from every queue anyway, and other idle workers look again within ``_BLOCK_MAX``;
        or a handed task, which comes back when its lease expires, as any leased task.
        """
        client = await self._open()
        with self._errors():
            if len(groups) == 1:
                return _handed(await client.blpop(groups[0], timeout=timeout))
            pops = [asyncio.ensure_future(_blpop(client, g, timeout)) for g in groups]
            try:
                done, _ = await asyncio.wait(pops, return_when=asyncio.FIRST_COMPLETED)
                popped = [_handed(pop.result()) for pop in done]
                if any(p is None for p in popped):
                    return None
                return [d for p in popped if p is not None for d in p]
            finally:
                for pop in pops:
                    pop.cancel()
                await asyncio.gather(*pops, return_exceptions=True)

    async def _claim_now(
        self,
        queues: Sequence[str],
        limit: int,
        lease: float,
        worker_id: str,
        entry: str,
        idle_until: str,
        *,
        every: bool = False,
    ) -> list[Delivery]:
        """One claim script per queue until ``limit`` tasks (``every``: on every queue, even
        with ``limit`` 0: to take what was handed to the worker, see ``_claim_waiting``)."""
        out: list[Delivery] = []
        for queue in queues:
            if len(out) >= limit and not every:
                break
            now = time.time()
            raw = await self._run(
                "claim",
                self._stem(queue),
                [
                    repr(now),
                    max(0, limit - len(out)),
                    repr(now + lease),
                    worker_id,
                    entry,
                    idle_until,
                ],
            )
            out.extend(_deliveries(raw))
        return out

    async def extend(self, ids: Sequence[str], *, lease: float, worker_id: str) -> dict[str, str]:
        until = repr(time.time() + lease)
        cancels: dict[str, str] = {}
        for stem, stem_ids in (await self._by_stem(ids)).items():
            raw = await self._run("extend", stem, [until, worker_id, *stem_ids])
            cancels.update((_decode(raw[i]), _decode(raw[i + 1])) for i in range(0, len(raw), 2))
        return cancels

    async def start_at_most_once(self, ids: Sequence[str], *, worker_id: str) -> None:
        for stem, stem_ids in (await self._by_stem(ids)).items():
            await self._run("once", stem, [worker_id, *stem_ids])

    async def complete(
        self,
        outcomes: Sequence[Outcome],
        *,
        retention: Retention,
        claim: ClaimRequest | None = None,
    ) -> list[Delivery]:
        now = time.time()
        grouped: dict[str, list[Outcome]] = {}
        unplaced = [o for o in outcomes if o.queue is None]  # the worker could not read it
        for o in outcomes:
            if o.queue is not None:
                grouped.setdefault(self._stem(o.queue), []).append(o)
        by_id = {o.id: o for o in unplaced}
        for stem, ids in (await self._by_stem(list(by_id))).items():
            grouped.setdefault(stem, []).extend(by_id[i] for i in ids)
        if self.cluster:  # a retry's child joins its parent's queue
            children = {
                o.retry.id: stem for stem, batch in grouped.items() for o in batch if o.retry
            }
            await self._point(children)
        claim_stems = {self._stem(q) for q in claim.queues} if claim is not None else set()
        claimed: list[Delivery] = []
        for stem, batch in grouped.items():
            args: list[Any] = [repr(now), *_ttls(retention), len(batch)]
            for o in batch:
                args += [
                    o.id,
                    o.status.value,
                    o.result or "",
                    _text(o.traceback),
                    _text(o.error_type),
                    repr(o.finished_at),
                    _text(o.cancel_reason),
                ]
                if o.retry is None:
                    args.append("0")
                else:  # the child's 8 enqueue fields follow, each its own argument
                    child, key = o.retry, o.retry.unique_key
                    args += ["1" if key is None else "2"]
                    args += self._enqueue_fields(child, encode_envelope(child), now)
                    if key is not None:  # it takes the key over from o's task
                        args.append(key)
            room = claim.limit - len(claimed) if claim is not None else 0
            if claim is not None and room > 0 and stem in claim_stems:
                entry = _idle_entry(claim.worker_id, claim.lease)
                args += [room, repr(now + claim.lease), claim.worker_id, entry]
            else:
                args += [0, "0", "", ""]
            claimed.extend(_deliveries(await self._run("complete", stem, args)))
        return claimed

    async def release(self, ids: Sequence[str], *, worker_id: str, retention: Retention) -> None:
        now = repr(time.time())
        ttl = _ttls(retention)[0]
        for stem, stem_ids in (await self._by_stem(ids)).items():
            await self._run("release", stem, [now, worker_id, ttl, *stem_ids])

    async def recover_expired(self, *, max_attempts: int, retention: Retention) -> int:
        total = 0
        for stem in await self._stems():
            args = [
                repr(time.time()),
                max_attempts,
                *_ttls(retention),
                lost_worker_message(max_attempts),
                WORKER_LOST,
                LOST_AT_MOST_ONCE,
            ]
            total += int(await self._run("recover", stem, args))
        return total

    async def housekeep(self) -> None:
        return None

    async def purge_expired(self) -> int:
        """Records expire by themselves (EXPIRE at completion); drop them from the counts,
        and delete their pointers (on one server those expire by themselves too)."""
        total = 0
        for stem in await self._stems():
            while True:
                ids = await self._run("purge", stem, [repr(time.time()), _PURGE_BATCH])
                if ids:
                    with self._errors():
                        await self._client().unlink(*(self._pointer(_decode(i)) for i in ids))
                total += len(ids)
                if len(ids) < _PURGE_BATCH:
                    break
        return total

    # cancellation and dead letters -----------------------------------------------------

    async def cancel(self, task_id: str, reason: str, *, retention: Retention) -> CancelState:
        stem = await self._stem_of(task_id)
        if stem is None:
            return CancelState.UNKNOWN
        args = [task_id, reason, repr(time.time()), _ttls(retention)[0]]
        return CancelState(_decode(await self._run("cancel", stem, args)))

    async def _dead(self, op: str, query: DeadLetterQuery) -> list[tuple[str, Any]]:
        """Run the ``dead`` script on every queue the query may touch: (stem, reply) pairs."""
        queues = None if query.queues is None else {self._stem(q) for q in query.queues}
        if query.ids is not None:
            targets = list((await self._by_stem(query.ids)).items())
        else:
            targets = [(stem, []) for stem in await self._stems()]
        replies = []
        for stem, ids in targets:
            if queues is None or stem in queues:
                args = [repr(time.time()), op, query.limit or 0, query.task_name or "", *ids]
                replies.append((stem, await self._run("dead", stem, args)))
        return replies

    async def dead_letters(self, query: DeadLetterQuery) -> list[StoredTask]:
        found = [
            stored_task(_decode(pair[0]), hash_reply(pair[1]))
            for _, reply in await self._dead("list", query)
            for pair in reply
        ]
        found.sort(key=lambda t: t.finished_at or 0.0, reverse=True)
        return found[: query.limit] if query.limit is not None else found

    async def requeue_dead(self, query: DeadLetterQuery) -> int:
        ids = [_decode(i) for _, reply in await self._dead("requeue", query) for i in reply]
        if self.cluster and ids:  # their pointers were set to expire with the records
            pipe = self._client().pipeline(transaction=False)
            for task_id in ids:
                pipe.persist(self._pointer(task_id))
            with self._errors():
                await pipe.execute()
        return len(ids)

    async def purge_dead(self, query: DeadLetterQuery) -> int:
        ids = [_decode(i) for _, reply in await self._dead("purge", query) for i in reply]
        if self.cluster and ids:
            with self._errors():
                await self._client().unlink(*(self._pointer(i) for i in ids))
        return len(ids)

    # results ----------------------------------------------------------------------------

    async def _stem_of(self, task_id: str) -> str | None:
        with self._errors():
            stem = await (await self._open()).get(self._pointer(task_id))
        return None if stem is None else _decode(stem)

    async def _record(self, stem: str, task_id: str) -> StoredTask | None:
        with self._errors():
            raw: dict[bytes, bytes] = await (await self._open()).hgetall(  # type: ignore[assignment]
                f"{stem}t:{task_id}"  # bytes: the client does not decode
            )
        return stored_task(task_id, raw) if raw else None

    async def get(self, task_id: str) -> StoredTask | None:
        stem = await self._stem_of(task_id)
        return None if stem is None else await self._record(stem, task_id)

    async def wait(self, task_id: str, timeout: float) -> StoredTask | None:
        deadline = time.monotonic() + timeout
        stem = await self._stem_of(task_id)
        if stem is None:
            return None
        channel = f"{stem}done:{task_id}"
        pubsub = (await self._open()).pubsub()
        next_message: Callable[[float], Awaitable[Any]]
        try:
            with self._errors():
                if self.cluster:  # a shard channel, served by the node of the queue's slot
                    await pubsub.ssubscribe(channel)
                    next_message = _sharded_reader(pubsub)
                else:
                    await pubsub.subscribe(channel)
                    next_message = _reader(pubsub)
            while True:
                stored = await self._record(stem, task_id)
                if stored is None or stored.status.is_final:
                    return stored
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return stored
                with self._errors():
                    await next_message(remaining)
        finally:
            closing: Any = pubsub.aclose  # typed in some redis-py releases, not in others
            await closing()

    async def count(self, queues: Sequence[str] | None = None) -> dict[str, int]:
        stems = [self._stem(q) for q in queues] if queues else await self._stems()
        counts: dict[str, int] = {}
        for stem in stems:
            pairs = await self._run("counts", stem, [repr(time.time())])
            for i in range(0, len(pairs), 2):
                status, n = pairs[i].decode(), int(pairs[i + 1])
                if n:
                    counts[status] = counts.get(status, 0) + n
        return counts

    async def flush_all(self) -> None:
        """Every key of this app's namespace (its prefix, as a literal glob); no other's."""
        client = await self._open()
        batch: list[bytes] = []
        with self._errors():
            match = glob_escape(app_prefix(self.namespace)) + "*"
            async for key in client.scan_iter(match=match, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    await client.unlink(*batch)
                    batch = []
            if batch:
                await client.unlink(*batch)


async def _blpop(client: Client, keys: list[str], timeout: float) -> Any:
    return await client.blpop(keys, timeout=timeout)


def _reader(pubsub: Any) -> Callable[[float], Awaitable[Any]]:
    return lambda timeout: pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)


def _sharded_reader(pubsub: Any) -> Callable[[float], Awaitable[Any]]:
    return lambda timeout: pubsub.get_sharded_message(
        ignore_subscribe_messages=True, timeout=timeout
    )


def _ttls(retention: Retention) -> list[str]:
    """Result and dead-letter TTLs as the scripts take them ('' keeps)."""
    return [_text(retention.result_ttl), _text(retention.dead_ttl)]


def _idle_entry(worker_id: str, lease: float) -> str:
    """A waiting worker's member of S idle: who, and the lease a hand-over gives it."""
    return f"{worker_id}|{lease!r}"


def _handed(popped: Any) -> list[Delivery] | None:
    """The task a ``BLPOP`` took from an inbox (``attempt\\nworkers\\nid\\nbody``, see
    redis.lua), nothing for a wake-up token or a time-out, ``None`` for ``_STOP``."""
    if popped is None or "}:inbox:" not in _decode(popped[0]):
        return []
    if popped[1] == _STOP:
        return None
    attempt, workers, task_id, body = popped[1].split(b"\n", 3)
    return [
        Delivery(
            id=task_id.decode(),
            body=body,
            attempt=int(attempt),
            worker_ids=tuple(json.loads(workers)),
        )
    ]


def _deliveries(raw: list[Any]) -> list[Delivery]:
    return [
        Delivery(
            id=raw[i].decode(),
            body=raw[i + 1],
            attempt=int(raw[i + 2]),
            worker_ids=tuple(json.loads(raw[i + 3])),
        )
        for i in range(0, len(raw), 4)
    ]
