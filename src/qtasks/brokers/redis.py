"""``redis://`` and ``rediss://``: the Redis transport (redis-py asyncio with hiredis).

The key schema and every script are in ``redis.lua`` beside this module. Each
multi-key step (enqueue, claim, store outcomes and claim again, extend,
release, recover) is one Lua script on the keys of one queue, which share a
hash tag, so every step is atomic and stays in one cluster slot. Idle workers
block on a wake-up list (``BLPOP``), never sleep-poll; result waits subscribe to
a per-task channel the completing script publishes to.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from qtasks.brokers.sqlfile import load_queries
from qtasks.core.broker import Capabilities
from qtasks.core.envelope import Envelope, encode_envelope
from qtasks.core.errors import WORKER_LOST, BrokerError, lost_worker_message
from qtasks.core.records import ClaimRequest, Delivery, Outcome, StoredTask
from qtasks.core.status import TaskStatusEnum

_SCRIPTS = load_queries("qtasks.brokers", "redis.lua")
PREFIX = "qtasks"
_INT32 = 2**31 - 1


def queue_stem(queue: str) -> str:
    """``qtasks:{queue}:`` — braces in a name would break the hash tag, so they are escaped."""
    safe = queue.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")
    return f"{PREFIX}:{{{safe}}}:"


def ready_member(envelope: Envelope, eta: float) -> str:
    """Sorts as: higher priority, earlier eta, then id (time-ordered): see redis.lua."""
    priority = max(-_INT32, min(_INT32, envelope.priority))
    return f"{_INT32 - priority:08x}{int(eta * 1000):012x}{envelope.id}"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class RedisBroker:
    """The Redis transport: one client (and connection pool) per broker instance."""

    capabilities = Capabilities(
        native_priority=True, native_delay=True, stores_results=True, pushes_results=True
    )

    def __init__(self, url: str) -> None:
        self.url = url
        self._redis: Redis | None = None
        self._scripts: dict[str, Any] = {}

    def _client(self) -> Redis:
        if self._redis is None:
            self._redis = Redis.from_url(self.url, decode_responses=False)
            prelude = _SCRIPTS["prelude"]
            for name in (
                "enqueue",
                "claim",
                "complete",
                "extend",
                "release",
                "recover",
                "counts",
                "purge",
            ):
                self._scripts[name] = self._redis.register_script(f"{prelude}\n{_SCRIPTS[name]}")
        return self._redis

    async def _run(self, name: str, stem: str, args: Sequence[Any]) -> Any:
        with self._errors():
            return await self._scripts[name](keys=[stem], args=list(args))

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Connection and authentication failures surface as BrokerError, password-free."""
        try:
            yield
        except (OSError, RedisConnectionError) as exc:
            raise BrokerError(f"Redis at {self._safe_url()} failed: {exc}") from exc

    def _safe_url(self) -> str:
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        return urlunsplit((parts.scheme, f"{host}:{parts.port or 6379}", parts.path, "", ""))

    async def connect(self) -> None:
        self._client()

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def ping(self) -> bool:
        try:
            return bool(await self._client().ping())
        except Exception:
            return False

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

    async def enqueue(self, envelopes: Sequence[Envelope]) -> None:
        now = time.time()
        by_queue: dict[str, list[Any]] = {}
        for env in envelopes:
            fields = self._enqueue_fields(env, encode_envelope(env), now)
            by_queue.setdefault(env.queue, []).extend(fields)
        for queue, args in by_queue.items():  # one round trip per queue
            await self._run("enqueue", queue_stem(queue), [repr(now), queue, *args])

    async def claim(
        self, queues: Sequence[str], limit: int, *, lease: float, worker_id: str, wait: float
    ) -> list[Delivery]:
        got = await self._claim_now(queues, limit, lease, worker_id)
        if got or wait <= 0:
            return got
        deadline = time.monotonic() + wait
        wakes = [queue_stem(q) + "wake" for q in queues]
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            await self._client().blpop(wakes, timeout=max(0.01, min(remaining, 1.0)))
            got = await self._claim_now(queues, limit, lease, worker_id)
            if got:
                return got

    async def _claim_now(
        self, queues: Sequence[str], limit: int, lease: float, worker_id: str
    ) -> list[Delivery]:
        out: list[Delivery] = []
        for queue in queues:
            if len(out) >= limit:
                break
            now = time.time()
            raw = await self._run(
                "claim",
                queue_stem(queue),
                [repr(now), limit - len(out), repr(now + lease), worker_id],
            )
            out.extend(_deliveries(raw))
        return out

    async def extend(self, ids: Sequence[str], *, lease: float, worker_id: str) -> None:
        until = repr(time.time() + lease)
        for stem, stem_ids in (await self._by_stem(ids)).items():
            await self._run("extend", stem, [until, worker_id, *stem_ids])

    async def _by_stem(self, ids: Sequence[str]) -> dict[str, list[str]]:
        """Group task ids by the key stem of their queue (read from their pointers)."""
        if not ids:
            return {}
        with self._errors():
            stems = await self._client().mget([f"{PREFIX}:loc:{i}" for i in ids])
        grouped: dict[str, list[str]] = {}
        for task_id, stem in zip(ids, stems, strict=True):
            if stem is not None:
                text = stem.decode() if isinstance(stem, bytes) else str(stem)
                grouped.setdefault(text, []).append(task_id)
        return grouped

    async def complete(
        self, outcomes: Sequence[Outcome], *, ttl: float | None, claim: ClaimRequest | None = None
    ) -> list[Delivery]:
        now = time.time()
        grouped: dict[str, list[Outcome]] = {}
        unplaced = [o for o in outcomes if o.queue is None]  # the worker could not read it
        for o in outcomes:
            if o.queue is not None:
                grouped.setdefault(queue_stem(o.queue), []).append(o)
        by_id = {o.id: o for o in unplaced}
        for stem, ids in (await self._by_stem(list(by_id))).items():
            grouped.setdefault(stem, []).extend(by_id[i] for i in ids)
        claim_stems = {queue_stem(q) for q in claim.queues} if claim is not None else set()
        claimed: list[Delivery] = []
        for stem, batch in grouped.items():
            args: list[Any] = [repr(now), "" if ttl is None else repr(ttl), len(batch)]
            for o in batch:
                child = ""
                if o.retry is not None:
                    fields = self._enqueue_fields(o.retry, encode_envelope(o.retry), now)
                    child = "".join(
                        f"{f.decode() if isinstance(f, bytes) else _text(f)}\0" for f in fields
                    )
                args += [
                    o.id,
                    o.status.value,
                    o.result or "",
                    _text(o.traceback),
                    _text(o.error_type),
                    repr(o.finished_at),
                    _text(o.cancel_reason),
                    child,
                ]
            room = claim.limit - len(claimed) if claim is not None else 0
            if claim is not None and room > 0 and stem in claim_stems:
                args += [room, repr(now + claim.lease), claim.worker_id]
            else:
                args += [0, "0", ""]
            claimed.extend(_deliveries(await self._run("complete", stem, args)))
        return claimed

    async def release(self, ids: Sequence[str], *, worker_id: str) -> None:
        now = repr(time.time())
        for stem, stem_ids in (await self._by_stem(ids)).items():
            await self._run("release", stem, [now, worker_id, *stem_ids])

    async def _stems(self) -> list[str]:
        """Key stems of every queue that has keys (every queue in use)."""
        stems: set[str] = set()
        async for key in self._client().scan_iter(match=f"{PREFIX}:{{*}}:*", count=1000):
            text = key.decode() if isinstance(key, bytes) else str(key)
            stems.add(text[: text.index("}:") + 2])
        return sorted(stems)

    async def recover_expired(self, *, max_attempts: int, ttl: float | None) -> int:
        total = 0
        for stem in await self._stems():
            args = [
                repr(time.time()),
                max_attempts,
                "" if ttl is None else repr(ttl),
                lost_worker_message(max_attempts),
                WORKER_LOST,
            ]
            total += int(await self._run("recover", stem, args))
        return total

    async def housekeep(self) -> None:
        return None

    async def purge_expired(self) -> int:
        """Records expire by themselves (EXPIRE at completion); drop them from the counts."""
        total = 0
        for stem in await self._stems():
            total += int(await self._run("purge", stem, [repr(time.time())]))
        return total

    # results ----------------------------------------------------------------------------

    async def get(self, task_id: str) -> StoredTask | None:
        client = self._client()
        with self._errors():
            stem = await client.get(f"{PREFIX}:loc:{task_id}")
            if stem is None:
                return None
            key = (stem.decode() if isinstance(stem, bytes) else str(stem)) + f"t:{task_id}"
            raw: dict[bytes, bytes] = await client.hgetall(key)  # type: ignore[assignment]
        return _stored(task_id, raw) if raw else None

    async def wait(self, task_id: str, timeout: float) -> StoredTask | None:
        deadline = time.monotonic() + timeout
        pubsub = self._client().pubsub()
        try:
            await pubsub.subscribe(f"{PREFIX}:done:{task_id}")
            while True:
                stored = await self.get(task_id)
                if stored is None or stored.status.is_final:
                    return stored
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return stored
                await pubsub.get_message(ignore_subscribe_messages=True, timeout=remaining)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def count(self, queues: Sequence[str] | None = None) -> dict[str, int]:
        stems = [queue_stem(q) for q in queues] if queues else await self._stems()
        counts: dict[str, int] = {}
        for stem in stems:
            pairs = await self._run("counts", stem, [repr(time.time())])
            for i in range(0, len(pairs), 2):
                status, n = pairs[i].decode(), int(pairs[i + 1])
                if n:
                    counts[status] = counts.get(status, 0) + n
        return counts

    async def flush_all(self) -> None:
        client = self._client()
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{PREFIX}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await client.unlink(*batch)
                batch = []
        if batch:
            await client.unlink(*batch)


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


def _float(raw: dict[bytes, bytes], key: bytes) -> float | None:
    value = raw.get(key)
    return None if value is None else float(value)


def _str(raw: dict[bytes, bytes], key: bytes) -> str | None:
    value = raw.get(key)
    return None if value is None else value.decode()


def _stored(task_id: str, raw: dict[bytes, bytes]) -> StoredTask:
    return StoredTask(
        id=task_id,
        task_name=raw[b"n"].decode(),
        queue=raw[b"q"].decode(),
        status=TaskStatusEnum(raw[b"s"].decode()),
        priority=int(raw[b"p"]),
        body=raw[b"b"],
        attempt=int(raw[b"a"]),
        created_at=float(raw[b"c"]),
        updated_at=float(raw[b"u"]),
        started_at=_float(raw, b"st"),
        finished_at=_float(raw, b"f"),
        result=raw.get(b"r"),
        traceback=_str(raw, b"tb"),
        worker_id=_str(raw, b"w"),
        retry_parent=_str(raw, b"rp"),
        retry_child=_str(raw, b"rc"),
        cancel_reason=_str(raw, b"cr"),
        worker_ids=tuple(json.loads(raw[b"ws"])) if b"ws" in raw else (),
        error_type=_str(raw, b"et"),
    )
