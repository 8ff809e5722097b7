"""The Redis transport's inspection side: task listings, queue depths, worker records and
per-minute counts (:class:`RedisInspect`, a part of
:class:`~qtasks.brokers.redis.RedisBroker`), and how a stored task's hash reads back.

The keys are in ``redis.lua``'s schema, like every other: the listing walks each queue's
``S ids`` index (newest first, from ``before`` on) in the ``list`` script, one call per
queue and at most a bounded number of ids per call; the per-minute counts are one small
hash per queue and minute (``S m:<minute>``) that the enqueue script counts into and
heartbeats add to, each expiring two hours after its minute; the worker records live in
the app's own slot (``W workers``, ``W w:<id>``), each expiring an hour after the
worker's last heartbeat. Nothing here scans the keyspace: the queues are the registry's.
"""

from __future__ import annotations

import heapq
import json
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from qtasks.core.inspection import (
    COUNTS_KEEP_MINUTES,
    WORKER_KEEP,
    MinuteCounts,
    QueueDepth,
    TaskQuery,
    WorkerInfo,
)
from qtasks.core.records import StoredTask
from qtasks.core.status import TaskStatusEnum

if TYPE_CHECKING:
    from qtasks.brokers.redis import Client

#: Minutes after the reader's current one that ``throughput`` still reads (a worker whose
#: clock runs a little ahead counts into them).
_MINUTES_AHEAD = 2
#: Ids of a queue's index one ``list`` script call looks at, at most (then it is called
#: again from where it stopped: no single call holds the server long).
_LIST_BUDGET = 2000
#: A status filter whose sets hold at most this many ids in all is answered from them,
#: sorted in the script, instead of walking the index.
_LIST_CANDIDATES = 5000
#: The counts a heartbeat or an enqueue adds to: ``MinuteCounts`` field, hash field.
_COUNTED = (
    ("enqueued", "e"),
    ("succeeded", "s"),
    ("failed", "f"),
    ("retried", "r"),
    ("cancelled", "c"),
)
_UNESCAPE = re.compile("%(25|7B|7D|3A)")
_UNESCAPED = {"25": "%", "7B": "{", "7D": "}", "3A": ":"}


def queue_of(stem: str) -> str:
    """The queue name a key stem ``qtasks:<app>:{<app>:<queue>}:`` is of (see redis.lua:
    escaped names hold no ``{`` or ``:``, so the tag is the first brace, the queue what
    follows its first ``:``)."""
    tag = stem[stem.index("{") + 1 : stem.rindex("}")]
    return _UNESCAPE.sub(lambda m: _UNESCAPED[m.group(1)], tag.partition(":")[2])


def hash_reply(flat: list[bytes]) -> dict[bytes, bytes]:
    """An HGETALL reply returned inside a script's reply: a flat field, value list."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _float(raw: dict[bytes, bytes], key: bytes) -> float | None:
    value = raw.get(key)
    return None if value is None else float(value)


def _str(raw: dict[bytes, bytes], key: bytes) -> str | None:
    value = raw.get(key)
    return None if value is None else value.decode()


def stored_task(task_id: str, raw: dict[bytes, bytes]) -> StoredTask:
    """A task as its hash ``S t:<id>`` holds it (fields in redis.lua)."""
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


def _worker_json(info: WorkerInfo) -> str:
    """The record ``W w:<id>`` keeps (floats as ``repr``: they read back exactly)."""
    return json.dumps(info.to_dict(), separators=(",", ":"))


def _worker(raw: bytes, said_goodbye: bytes) -> WorkerInfo:
    fields = json.loads(raw)
    return WorkerInfo.from_dict(fields, stopped=bool(fields["stopped"]) or said_goodbye == b"1")


def _minute_key(stem: str, minute: int) -> str:
    """``S m:<minute>`` (redis.lua): one queue's counts of one minute."""
    return f"{stem}m:{minute}"


class RedisInspect:
    """What operators read off Redis: one script call (or one pipeline) per queue."""

    if TYPE_CHECKING:  # the broker's own, used here
        cluster: bool
        _registry: str
        _workers: str

        def _stem(self, queue: str) -> str: ...
        async def _open(self) -> Client: ...
        async def _run(self, name: str, stem: str, args: Sequence[Any]) -> Any: ...
        async def _stems(self) -> list[str]: ...
        def _errors(self) -> AbstractContextManager[None]: ...

    async def list_tasks(self, query: TaskQuery) -> list[StoredTask]:
        limit = max(query.limit, 0)
        if limit == 0:
            return []
        if query.queues:
            stems = [self._stem(q) for q in dict.fromkeys(query.queues)]
        else:
            stems = await self._stems()
        statuses = [s.value for s in dict.fromkeys(query.statuses)]
        found: list[StoredTask] = []
        for stem in stems:
            found += await self._listed(stem, query, limit, statuses)
        # ids are time-ordered UUIDv7 strings: the largest is the newest
        return heapq.nlargest(limit, found, key=lambda task: task.id)

    async def _listed(
        self, stem: str, query: TaskQuery, limit: int, statuses: list[str]
    ) -> list[StoredTask]:
        """Up to ``limit`` tasks of one queue matching ``query``, newest first: one
        ``list`` call, or more while each stops at its budget of ids looked at."""
        found: list[StoredTask] = []
        before = query.before or ""
        while len(found) < limit:
            args = [before, limit - len(found), _LIST_BUDGET, _LIST_CANDIDATES]
            reply = await self._run("list", stem, [*args, query.task_name or "", *statuses])
            found += [stored_task(i.decode(), hash_reply(raw)) for i, raw in reply[1:]]
            before = reply[0].decode()
            if not before:
                break
        return found

    async def queue_depths(self, queues: Sequence[str] | None = None) -> list[QueueDepth]:
        if queues is not None:
            stems = [self._stem(q) for q in dict.fromkeys(queues)]
        else:
            stems = await self._stems()
        if not stems:
            return []
        now = repr(time.time())
        pipe = (await self._open()).pipeline(transaction=False)
        for stem in stems:  # one round trip for every queue (each command in one slot)
            pipe.zcard(stem + "ready")
            pipe.zcount(stem + "delayed", "-inf", now)  # due: claim moves them to ready
            pipe.zcard(stem + "delayed")
            pipe.zcard(stem + "leased")
        with self._errors():
            sizes = [int(n) for n in await pipe.execute()]
        depths = [
            QueueDepth(
                queue=queue_of(stem),
                ready=sizes[i] + sizes[i + 1],
                delayed=sizes[i + 2] - sizes[i + 1],
                running=sizes[i + 3],
            )
            for stem, i in zip(stems, range(0, len(sizes), 4), strict=True)
        ]
        if queues is not None:
            return depths
        return sorted((d for d in depths if d.ready + d.delayed + d.running), key=lambda d: d.queue)

    async def heartbeat(
        self, info: WorkerInfo, *, ttl: float, counts: Sequence[MinuteCounts] = ()
    ) -> None:
        now = time.time()
        expires_ms = int((info.last_seen + WORKER_KEEP) * 1000)
        args = [
            info.id,
            repr(info.last_seen),
            _worker_json(info),
            expires_ms,
            repr(now - WORKER_KEEP),
        ]
        await self._run("beat", self._workers, args)
        await self._add_counts(counts, now)

    async def _add_counts(self, counts: Sequence[MinuteCounts], now: float) -> None:
        """Add a heartbeat's counts to the minutes' hashes, in one pipeline (a MULTI on one
        server: all or none, so counts a failed beat gives back are never added twice)."""
        oldest = int(now // 60) - COUNTS_KEEP_MINUTES  # older ones would expire at once
        rows = [r for r in counts if r.minute >= oldest]
        if not rows:
            return
        pipe = (await self._open()).pipeline(transaction=not self.cluster)
        stems: set[str] = set()
        for row in rows:
            stem = self._stem(row.queue)
            stems.add(stem)
            key = _minute_key(stem, row.minute)
            for name, field in _COUNTED:
                n = getattr(row, name)
                if n:
                    pipe.hincrby(key, field, n)
            pipe.expireat(key, (row.minute + COUNTS_KEEP_MINUTES + 1) * 60)
        pipe.sadd(self._registry, *stems)  # throughput finds the queues by the registry
        with self._errors():
            await pipe.execute()

    async def worker_stopped(self, worker_id: str) -> None:
        await self._run("stopped", self._workers, [worker_id])

    async def workers(self) -> list[WorkerInfo]:
        reply = await self._run("workers", self._workers, [repr(time.time() - WORKER_KEEP)])
        return [_worker(reply[i], reply[i + 1]) for i in range(0, len(reply), 2)]

    async def throughput(self, since_minute: int) -> list[MinuteCounts]:
        current = int(time.time() // 60)
        minutes = range(
            max(since_minute, current - COUNTS_KEEP_MINUTES), current + _MINUTES_AHEAD + 1
        )
        stems = await self._stems()
        if not stems or not minutes:
            return []
        pipe = (await self._open()).pipeline(transaction=False)
        for stem in stems:  # one round trip; a minute with nothing counted reads as {}
            for minute in minutes:
                pipe.hgetall(_minute_key(stem, minute))
        with self._errors():
            replies: Iterator[dict[bytes, bytes]] = iter(await pipe.execute())
        rows: list[MinuteCounts] = []
        for stem in stems:
            queue = queue_of(stem)
            for minute in minutes:
                raw = next(replies)
                if raw:
                    fields = {name: int(raw.get(field.encode(), 0)) for name, field in _COUNTED}
                    rows.append(MinuteCounts(minute=minute, queue=queue, **fields))
        rows.sort(key=lambda r: (r.minute, r.queue))
        return rows
