"""Moving the keys of the Redis layout before app namespaces into one app's namespace.

Before app names were namespaces, every app on a Redis shared one set of keys:

    qtasks:{<Q>}:<rest>   the keys of queue Q, <rest> as after S in redis.lua (ready,
                          delayed, leased, wake, fin:<s>, t:<id>); in <Q> only % { } were
                          percent-encoded (%25 %7B %7D)
    qtasks:loc:<id>       STRING, the stem ``qtasks:{<Q>}:`` of task <id>'s queue
    qtasks:queues         SET, the stems of every queue

Two apps on one Redis took each other's tasks then, so in practice a Redis served one
app: all of it is moved into the namespace of the app whose process connects first
(``RedisBroker._open``: one ``EXISTS qtasks:queues`` per broker instance, nothing more
when it is absent).

How, safe with many processes starting at once and with one dying halfway:

- One process moves, holding ``qtasks:upgrade-lock`` (SET NX PX, renewed after every
  batch, released by its token); the others wait until the old registry is gone, and
  take the lock over if it expires while the registry is still there (its holder died).
- The old queues are the old registry's stems and the stems of every key a ``SCAN`` of
  ``qtasks:{*`` finds. Per queue: first the pointers of its tasks (ids of its records, of
  its leased and finished sets), rewritten to hold the new stem, then its keys. A key
  moves by DUMP + PTTL, RESTORE (with the TTL left) and DEL, which works across cluster
  slots. A key already at the destination (a move cut short between RESTORE and DEL) is
  merged: a set or sorted set gets the old members, anything else keeps the copy there.
  So a move resumed after a crash finishes it without losing or doubling a key.
- Last, the new registry gets the new stems and the old registry is deleted.

Old pub/sub channels are not keys: a waiter subscribed to one times out and looks again.
Processes of the old version should be stopped first: while they run they go on writing
the old keys (and taking other apps' tasks); what they write after the move is moved by
the next process that connects (their first enqueue brings the old registry back).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from redis.exceptions import ResponseError

from qtasks.brokers.redis import _SCRIPTS, Client, app_prefix, queue_stem, registry

log = logging.getLogger(__name__)

OLD_REGISTRY = b"qtasks:queues"
#: Every key of an old queue (``{`` is no glob character).
OLD_QUEUE_KEYS = b"qtasks:{*"
OLD_POINTER = b"qtasks:loc:"
_OLD_STEM = re.compile(rb"qtasks:\{([^}]*)\}:")
_OLD_ESCAPE = re.compile(rb"%(25|7B|7D)")
_OLD_UNESCAPE = {b"25": b"%", b"7B": b"{", b"7D": b"}"}

LOCK = "qtasks:upgrade-lock"
#: The lock lapses this long after its last renewal (a holder renews after every batch).
LOCK_MS = 30_000
#: Keys read and written per pipeline round trip.
BATCH = 500
#: How often a process waiting for another's move looks again.
POLL = 0.05

T = TypeVar("T")


class _LockLost(Exception):
    """The lock lapsed and another process took it over: it finishes the move."""


async def upgrade(client: Client, namespace: str) -> int:
    """Move every key of the old layout into ``namespace``'s, if there are any (one
    ``EXISTS`` when not) and no other process does it (then wait until it is done).
    Returns how many keys this call moved."""
    if not await client.exists(OLD_REGISTRY):
        return 0
    token = uuid.uuid4().hex
    renew = client.register_script(_SCRIPTS["lock_renew"])
    release = client.register_script(_SCRIPTS["lock_release"])
    while True:
        if await client.set(LOCK, token, nx=True, px=LOCK_MS):
            try:
                moved = await _move_all(client, namespace, _Lock(renew, token))
            except _LockLost:
                continue  # wait for the process that took over
            finally:
                await release(keys=[LOCK], args=[token])
            log.warning(
                "moved %d Redis keys written before app namespaces into app %r", moved, namespace
            )
            return moved
        await asyncio.sleep(POLL)
        if not await client.exists(OLD_REGISTRY):
            return 0


class _Lock:
    def __init__(self, renew: Any, token: str) -> None:
        self._renew = renew
        self._token = token

    async def renew(self) -> None:
        if not await self._renew(keys=[LOCK], args=[self._token, LOCK_MS]):
            raise _LockLost


async def _move_all(client: Client, namespace: str, lock: _Lock) -> int:
    registered: set[bytes] = await client.smembers(OLD_REGISTRY)  # type: ignore[assignment]
    keys_of: dict[bytes, list[bytes]] = {stem: [] for stem in registered}
    async for key in client.scan_iter(match=OLD_QUEUE_KEYS, count=1000):
        found = _OLD_STEM.match(key)
        if found is not None:
            keys_of.setdefault(found.group(0), []).append(key)
    moved, new_stems = 0, []
    for old_stem, keys in keys_of.items():
        found = _OLD_STEM.fullmatch(old_stem)
        if found is None:  # not a stem the old version wrote
            continue
        queue = _OLD_ESCAPE.sub(lambda m: _OLD_UNESCAPE[m.group(1)], found.group(1)).decode()
        new_stem = queue_stem(namespace, queue).encode()
        new_stems.append(new_stem)
        ids = await _task_ids(client, old_stem, keys)
        moved += await move_pointers(client, namespace, ids, new_stem, lock)
        moves = [(key, new_stem + key[len(old_stem) :]) for key in keys]
        moved += await move_keys(client, moves, lock)
    if new_stems:
        await client.sadd(registry(namespace), *new_stems)
    await client.delete(OLD_REGISTRY)
    return moved


async def _task_ids(client: Client, old_stem: bytes, keys: Sequence[bytes]) -> list[bytes]:
    """Ids of the queue's tasks that may have a pointer: of its records, and in its
    leased and finished sets (a finished record may have expired before its pointer)."""
    ids: set[bytes] = set()
    for key in keys:
        rest = key[len(old_stem) :]
        if rest.startswith(b"t:"):
            ids.add(rest[2:])
        elif rest == b"leased" or rest.startswith(b"fin:"):
            async for member, _ in client.zscan_iter(key, count=1000):
                ids.add(member)
    return sorted(ids)


async def move_pointers(
    client: Client, namespace: str, ids: Sequence[bytes], new_stem: bytes, lock: _Lock
) -> int:
    """Move the old pointers of ``ids`` into ``namespace``, holding ``new_stem``; returns
    how many it created (one already there is kept)."""
    loc, created = (app_prefix(namespace) + "loc:").encode(), 0
    for batch in _batches(ids):
        pipe = client.pipeline(transaction=False)
        for task_id in batch:
            pipe.get(OLD_POINTER + task_id)
            pipe.pttl(OLD_POINTER + task_id)
        got = await pipe.execute()
        pipe, sources = client.pipeline(transaction=False), []
        for task_id, value, ttl in zip(batch, got[::2], got[1::2], strict=True):
            if value is not None and ttl != -2:
                pipe.set(loc + task_id, new_stem, nx=True, px=_ttl(ttl) or None)
                sources.append(OLD_POINTER + task_id)
        if sources:
            created += sum(1 for ok in await pipe.execute() if ok)
            await client.delete(*sources)
        await lock.renew()
    return created


async def move_keys(client: Client, moves: Sequence[tuple[bytes, bytes]], lock: _Lock) -> int:
    """DUMP + RESTORE + DEL each (source, destination), the TTL kept; returns how many
    destinations it created (one already there is merged into, see the module doc)."""
    created = 0
    for batch in _batches(moves):
        pipe = client.pipeline(transaction=False)
        for source, _ in batch:
            pipe.dump(source)
            pipe.pttl(source)
        got = await pipe.execute()
        todo = [
            (source, target, payload, ttl)
            for (source, target), payload, ttl in zip(batch, got[::2], got[1::2], strict=True)
            if payload is not None and ttl != -2
        ]
        if not todo:
            await lock.renew()
            continue
        pipe = client.pipeline(transaction=False)
        for _, target, payload, ttl in todo:
            pipe.restore(target, _ttl(ttl), payload)
        for (source, target, _, _), result in zip(
            todo, await pipe.execute(raise_on_error=False), strict=True
        ):
            if isinstance(result, ResponseError) and "BUSYKEY" in str(result):
                await _merge(client, source, target)
            elif isinstance(result, Exception):
                raise result
            else:
                created += 1
        await client.delete(*(source for source, *_ in todo))
        await lock.renew()
    return created


async def _merge(client: Client, source: bytes, target: bytes) -> None:
    """The rest of a move cut short: ``target`` exists already (see the module doc)."""
    kind = await client.type(source)
    if kind == b"zset":
        scored: list[tuple[bytes, float]] = await client.zrange(  # type: ignore[assignment]
            source, 0, -1, withscores=True
        )
        if scored:
            await client.zadd(target, dict(scored), nx=True)
    elif kind == b"set":
        members = await client.smembers(source)
        if members:
            await client.sadd(target, *members)


def _ttl(pttl: int) -> int:
    """A PTTL reply as RESTORE and SET take it: 0 for none (PTTL -1), else at least 1."""
    return 0 if pttl == -1 else max(int(pttl), 1)


def _batches(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]
