"""``memory://name``: an in-process broker for tests and examples.

State lives in one process-wide store per (name, app namespace), guarded by a lock, so sync
callers (each on its own private loop) and a worker loop in another thread
all see the same queue. Waiters on other loops are woken thread-safely.
It keeps every promise of the conformance suite: priority, eta, leases,
results with TTL.
"""

from __future__ import annotations

import asyncio
import heapq
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from qtasks.brokers.memory_inspect import Inspection, MemoryInspect
from qtasks.brokers.polling import wait_event
from qtasks.core.broker import DEFAULT_NAMESPACE, Capabilities
from qtasks.core.envelope import Envelope, encode_envelope
from qtasks.core.errors import LOST_AT_MOST_ONCE, WORKER_LOST, lost_worker_message
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
from qtasks.core.unique import key_is_free

_NEW, _PROCESS = TaskStatusEnum.NEW, TaskStatusEnum.PROCESS


@dataclass(slots=True)
class _Entry:
    task: StoredTask
    eta: float
    seq: int
    lease_until: float = 0.0
    expires_at: float | None = None
    cancel_requested: str | None = None
    """While running: the reason ``cancel()`` gave; the worker is told at its next renewal."""
    at_most_once: bool = False


class _Store:
    """One named in-memory queue and result store."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[str, _Entry] = {}
        self.ready: dict[str, list[tuple[int, float, int, str]]] = {}
        self.delayed: list[tuple[float, int, str]] = []
        self.seq = 0
        self.work_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self.result_waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self.inspection = Inspection()
        """Worker records and per-minute counts (``memory_inspect``)."""
        self.unique: dict[tuple[str, str], tuple[str, float]] = {}
        """(queue, unique key) -> (holder's id, held until): ``core/unique.py``."""


_stores: dict[tuple[str, str], _Store] = {}
_stores_lock = threading.Lock()


def _store(name: str, namespace: str) -> _Store:
    """The store of one app namespace on ``memory://name``: apps never share one."""
    with _stores_lock:
        return _stores.setdefault((name, namespace), _Store())


def _wake(waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]) -> None:
    for loop, event in waiters:
        if not loop.is_closed():
            loop.call_soon_threadsafe(event.set)


class MemoryBroker(MemoryInspect):
    """The in-memory transport."""

    capabilities = Capabilities(
        native_priority=True,
        native_delay=True,
        stores_results=True,
        pushes_results=True,
        inline=True,
    )

    def __init__(self, name: str = "default", *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.namespace = namespace
        self._store = _store(name, namespace)

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    def _push_ready(self, entry: _Entry) -> None:
        task = entry.task
        heapq.heappush(
            self._store.ready.setdefault(task.queue, []),
            (-task.priority, entry.eta, entry.seq, task.id),
        )

    async def enqueue(self, envelopes: Sequence[Envelope]) -> dict[str, str]:
        bodies = [encode_envelope(env) for env in envelopes]
        now = time.time()
        store = self._store
        held: dict[str, str] = {}
        with store.lock:
            for env, body in zip(envelopes, bodies, strict=True):
                if env.unique_key is not None and (holder := self._hold(env, now)) is not None:
                    held[env.id] = holder
                    continue
                self._insert(env, body, now)
            sent = [env for env in envelopes if env.id not in held] if held else envelopes
            store.inspection.count_enqueued(int(now // 60), sent)
            _wake(store.work_waiters)
        return held

    def _holder_active(self, task_id: str) -> bool:
        entry = self._store.entries.get(task_id)
        return entry is not None and entry.task.status in (_NEW, _PROCESS)

    def _hold(self, env: Envelope, now: float) -> str | None:
        """Take ``env``'s unique key for it (``None``), or the id of the task holding it."""
        slot = (env.queue, env.unique_key or "")
        current = self._store.unique.get(slot)
        if current is not None and not key_is_free(
            holder_active=self._holder_active(current[0]),
            held_until=current[1],
            while_running=env.unique_while_running,
            after=env.unique_after,
            now=now,
        ):
            return current[0]
        self._store.unique[slot] = (env.id, env.unique_until)
        return None

    def _hand_key_to(self, child: Envelope) -> None:
        """A retry's new attempt takes its key over from the attempt it retries."""
        slot = (child.queue, child.unique_key or "")
        current = self._store.unique.get(slot)
        if current is not None and current[0] == child.retry_of:
            self._store.unique[slot] = (child.id, current[1])

    async def unique_hold(self, queue: str, key: str) -> tuple[str, float] | None:
        with self._store.lock:
            return self._store.unique.get((queue, key))

    def _insert(self, env: Envelope, body: bytes, now: float) -> None:
        store = self._store
        store.seq += 1
        eta = env.eta or now
        entry = _Entry(
            task=StoredTask(
                id=env.id,
                task_name=env.task_name,
                queue=env.queue,
                status=_NEW,
                priority=env.priority,
                body=body,
                attempt=0,
                created_at=env.created_at or now,
                updated_at=now,
                retry_parent=env.retry_of,
            ),
            eta=eta,
            seq=store.seq,
        )
        store.entries[env.id] = entry
        if eta > now:
            heapq.heappush(store.delayed, (eta, entry.seq, env.id))
        else:
            self._push_ready(entry)

    def _promote_due(self, now: float) -> None:
        store = self._store
        while store.delayed and store.delayed[0][0] <= now:
            _, _, task_id = heapq.heappop(store.delayed)
            entry = store.entries.get(task_id)
            if entry is not None and entry.task.status is _NEW:
                self._push_ready(entry)

    def _take(
        self, queues: Sequence[str], limit: int, lease: float, worker_id: str
    ) -> list[Delivery]:
        store = self._store
        now = time.time()
        self._promote_due(now)
        heaps = [store.ready[q] for q in queues if store.ready.get(q)]
        out: list[Delivery] = []
        while len(out) < limit and heaps:
            best = min(heaps, key=lambda h: h[0])
            _, _, _, task_id = heapq.heappop(best)
            if not best:
                heaps.remove(best)
            entry = store.entries.get(task_id)
            if entry is None or entry.task.status is not _NEW:
                continue  # stale heap item: cancelled, flushed or re-queued elsewhere
            entry.task = replace(
                entry.task,
                status=_PROCESS,
                attempt=entry.task.attempt + 1,
                worker_id=worker_id,
                worker_ids=(*entry.task.worker_ids, worker_id),
                started_at=now,
                updated_at=now,
            )
            entry.lease_until = now + lease
            out.append(
                Delivery(
                    id=task_id,
                    body=entry.task.body,
                    attempt=entry.task.attempt,
                    worker_ids=entry.task.worker_ids,
                )
            )
        return out

    def _next_eta(self) -> float | None:
        delayed = self._store.delayed
        return delayed[0][0] if delayed else None

    async def claim(
        self, queues: Sequence[str], limit: int, *, lease: float, worker_id: str, wait: float
    ) -> list[Delivery]:
        store = self._store
        deadline = time.monotonic() + wait
        loop = asyncio.get_running_loop()
        while True:
            event = asyncio.Event()
            waiter = (loop, event)
            with store.lock:
                got = self._take(queues, limit, lease, worker_id)
                if got:
                    return got
                next_eta = self._next_eta()
                store.work_waiters.add(waiter)
            try:
                remaining = deadline - time.monotonic()
                if next_eta is not None:
                    remaining = min(remaining, next_eta - time.time())
                if remaining > 0:
                    await wait_event(event, remaining)
            finally:
                with store.lock:
                    store.work_waiters.discard(waiter)
            if time.monotonic() >= deadline:
                with store.lock:
                    return self._take(queues, limit, lease, worker_id)

    def _held(self, task_id: str, worker_id: str) -> _Entry | None:
        """The entry if ``worker_id`` holds its lease now."""
        entry = self._store.entries.get(task_id)
        if entry and entry.task.status is _PROCESS and entry.task.worker_id == worker_id:
            return entry
        return None

    async def extend(self, ids: Sequence[str], *, lease: float, worker_id: str) -> dict[str, str]:
        until = time.time() + lease
        cancels: dict[str, str] = {}
        with self._store.lock:
            for task_id in ids:
                entry = self._held(task_id, worker_id)
                if entry is not None:
                    entry.lease_until = until
                    if entry.cancel_requested is not None:
                        cancels[task_id] = entry.cancel_requested
        return cancels

    async def start_at_most_once(self, ids: Sequence[str], *, worker_id: str) -> None:
        with self._store.lock:
            for task_id in ids:
                entry = self._held(task_id, worker_id)
                if entry is not None:
                    entry.at_most_once = True

    async def complete(
        self,
        outcomes: Sequence[Outcome],
        *,
        retention: Retention,
        claim: ClaimRequest | None = None,
    ) -> list[Delivery]:
        children = [(o.retry, encode_envelope(o.retry)) for o in outcomes if o.retry is not None]
        now = time.time()
        store = self._store
        with store.lock:
            for outcome in outcomes:
                entry = store.entries.get(outcome.id)
                if entry is None or entry.task.status.is_final:
                    continue  # already finished by another worker after a lease expiry
                entry.task = replace(
                    entry.task,
                    status=outcome.status,
                    result=outcome.result,
                    traceback=outcome.traceback,
                    error_type=outcome.error_type,
                    finished_at=outcome.finished_at,
                    updated_at=now,
                    retry_child=outcome.retry.id if outcome.retry else None,
                    cancel_reason=outcome.cancel_reason,
                )
                entry.expires_at = retention.expiry(outcome.status, now)
                _wake(store.result_waiters.pop(outcome.id, set()))
            for env, body in children:
                self._insert(env, body, now)
                if env.unique_key is not None:
                    self._hand_key_to(env)
            if children:
                _wake(store.work_waiters)
            if claim is None or claim.limit <= 0:
                return []
            return self._take(claim.queues, claim.limit, claim.lease, claim.worker_id)

    async def release(self, ids: Sequence[str], *, worker_id: str, retention: Retention) -> None:
        store = self._store
        now = time.time()
        with store.lock:
            for task_id in ids:
                entry = self._held(task_id, worker_id)
                if entry is not None and entry.cancel_requested is not None:
                    self._cancel_held(entry, now, retention)
                elif entry is not None:
                    entry.task = replace(
                        entry.task,
                        status=_NEW,
                        attempt=entry.task.attempt - 1,
                        worker_ids=entry.task.worker_ids[:-1],
                        updated_at=now,
                    )
                    self._push_ready(entry)
            _wake(store.work_waiters)

    def _finish(
        self, entry: _Entry, status: TaskStatusEnum, now: float, retention: Retention, **fields: Any
    ) -> None:
        """Make a record final without a worker's outcome (lost worker, cancel)."""
        entry.task = replace(entry.task, status=status, finished_at=now, updated_at=now, **fields)
        entry.expires_at = retention.expiry(status, now)
        _wake(self._store.result_waiters.pop(entry.task.id, set()))

    def _cancel_held(self, entry: _Entry, now: float, retention: Retention) -> None:
        """A claimed task whose cancellation was requested ends as ``cancel``, never rerun."""
        self._finish(
            entry, TaskStatusEnum.CANCEL, now, retention, cancel_reason=entry.cancel_requested
        )

    async def recover_expired(self, *, max_attempts: int, retention: Retention) -> int:
        store = self._store
        now = time.time()
        recovered = 0
        with store.lock:
            for entry in store.entries.values():
                if entry.task.status is not _PROCESS or entry.lease_until > now:
                    continue
                recovered += 1
                if entry.cancel_requested is not None:
                    self._cancel_held(entry, now, retention)
                elif entry.at_most_once or entry.task.attempt >= max_attempts:
                    message = (
                        LOST_AT_MOST_ONCE
                        if entry.at_most_once
                        else lost_worker_message(entry.task.attempt)
                    )
                    self._finish(
                        entry,
                        TaskStatusEnum.ERROR,
                        now,
                        retention,
                        traceback=message,
                        error_type=WORKER_LOST,
                    )
                else:
                    entry.task = replace(entry.task, status=_NEW, updated_at=now)
                    self._push_ready(entry)
            if recovered:
                _wake(store.work_waiters)
        return recovered

    async def housekeep(self) -> None:
        return None

    async def purge_expired(self) -> int:
        store = self._store
        now = time.time()
        with store.lock:
            expired = [
                task_id
                for task_id, entry in store.entries.items()
                if entry.expires_at is not None and entry.expires_at <= now
            ]
            for task_id in expired:
                del store.entries[task_id]
            for slot, (holder, until) in list(store.unique.items()):
                if until <= now and not self._holder_active(holder):
                    del store.unique[slot]  # free for good
        return len(expired)

    async def cancel(self, task_id: str, reason: str, *, retention: Retention) -> CancelState:
        store = self._store
        with store.lock:
            entry = store.entries.get(task_id)
            if entry is None or (entry.expires_at is not None and entry.expires_at <= time.time()):
                return CancelState.UNKNOWN
            if entry.task.status is _NEW:
                self._finish(
                    entry, TaskStatusEnum.CANCEL, time.time(), retention, cancel_reason=reason
                )
                return CancelState.CANCELLED  # its stale heap items are skipped by _take
            if entry.task.status is _PROCESS:
                entry.cancel_requested = reason
                return CancelState.REQUESTED
            return CancelState.FINISHED

    def _dead(self, query: DeadLetterQuery) -> list[_Entry]:
        now = time.time()
        return [
            entry
            for entry in self._store.entries.values()
            if query.matches(entry.task) and (entry.expires_at is None or entry.expires_at > now)
        ]

    async def dead_letters(self, query: DeadLetterQuery) -> list[StoredTask]:
        with self._store.lock:
            found = [entry.task for entry in self._dead(query)]
        found.sort(key=lambda t: t.finished_at or 0.0, reverse=True)
        return found[: query.limit] if query.limit is not None else found

    async def requeue_dead(self, query: DeadLetterQuery) -> int:
        store = self._store
        now = time.time()
        with store.lock:
            dead = self._dead(query)
            for entry in dead:
                entry.task = _requeued(entry.task, now)
                entry.eta, entry.expires_at, entry.at_most_once = now, None, False
                self._push_ready(entry)
            if dead:
                _wake(store.work_waiters)
        return len(dead)

    async def purge_dead(self, query: DeadLetterQuery) -> int:
        with self._store.lock:
            dead = self._dead(query)
            for entry in dead:
                del self._store.entries[entry.task.id]
        return len(dead)

    async def get(self, task_id: str) -> StoredTask | None:
        with self._store.lock:
            entry = self._store.entries.get(task_id)
            if entry is None or (entry.expires_at is not None and entry.expires_at <= time.time()):
                return None
            return entry.task

    async def wait(self, task_id: str, timeout: float) -> StoredTask | None:
        store = self._store
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        waiter = (loop, event)
        with store.lock:
            entry = store.entries.get(task_id)
            if entry is None or entry.task.status.is_final:
                return entry.task if entry else None
            store.result_waiters.setdefault(task_id, set()).add(waiter)
        try:
            await wait_event(event, timeout)
        finally:
            with store.lock:
                store.result_waiters.get(task_id, set()).discard(waiter)
        return await self.get(task_id)

    async def count(self, queues: Sequence[str] | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._store.lock:
            for entry in self._store.entries.values():
                if queues is None or entry.task.queue in queues:
                    key = entry.task.status.value
                    counts[key] = counts.get(key, 0) + 1
        return counts

    async def flush_all(self) -> None:
        store = self._store
        with store.lock:
            store.entries.clear()
            store.ready.clear()
            store.delayed.clear()
            store.inspection.clear()
            store.unique.clear()


def _requeued(task: StoredTask, now: float) -> StoredTask:
    """A dead letter back to ``new``: same id and message, attempts counted from zero."""
    return replace(
        task,
        status=_NEW,
        attempt=0,
        updated_at=now,
        started_at=None,
        finished_at=None,
        result=None,
        traceback=None,
        error_type=None,
        worker_id=None,
        worker_ids=(),
    )
