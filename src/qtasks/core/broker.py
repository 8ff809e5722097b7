"""The broker protocol: the one seam between the engine and a transport.

A broker instance is bound to the event loop that first uses it; the app
keeps one per loop. Every method is a coroutine; a transport whose client is
synchronous (SQLite) may finish without suspending.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from qtasks.core.envelope import Envelope
from qtasks.core.inspection import MinuteCounts, QueueDepth, TaskQuery, WorkerInfo
from qtasks.core.names import check_name
from qtasks.core.records import (
    CancelState,
    ClaimRequest,
    DeadLetterQuery,
    Delivery,
    Outcome,
    Retention,
    StoredTask,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """What a transport does itself; the engine emulates the rest."""

    native_priority: bool
    native_delay: bool
    stores_results: bool
    pushes_results: bool
    """Result waits are woken by the transport, not by polling."""
    inline: bool = False
    """Calls run to their first real wait without needing a Task (no timeouts before it),
    so the sync facade may drive them directly instead of spinning the event loop."""


#: The namespace of an app created without ``name=``: QTasks' default app name.
DEFAULT_NAMESPACE = "QueueTasks"


def check_namespace(name: object) -> str:
    """An app name usable as a namespace on every transport, or ``ValueError``.

    Any non-empty text of at most 255 characters works (``:``, braces, NUL, non-ASCII):
    each transport escapes it where its key or column syntax needs to. Text that UTF-8
    cannot carry (a lone surrogate) is refused here, before anything is stored under it.
    """
    return check_name("app", name, nul=True)


#: True while the sync facade runs a client call for blocking code, on an event loop
#: private to that caller (never inside a worker or anyone's running loop): a transport
#: with a blocking client of its own may then enqueue through it (``enqueue_blocking``),
#: one round trip without the async client's per-call machinery.
blocking_caller: ContextVar[bool] = ContextVar("qtasks_blocking_caller", default=False)


class Broker(Protocol):
    """A queue plus a result store. Implemented once per transport.

    A broker instance serves ONE namespace (the app's name, given to its constructor as
    ``namespace=``): every method below sees and touches only that namespace's tasks.
    Two apps with different names on one server never claim, read, count, cancel,
    requeue or flush each other's tasks; lease recovery and purges are per namespace too.
    """

    capabilities: Capabilities
    namespace: str

    async def connect(self) -> None:
        """Open connections and create schema; safe to call twice."""

    async def close(self) -> None:
        """Release connections."""

    async def ping(self) -> bool:
        """True when the transport answers."""

    async def enqueue(self, envelopes: Sequence[Envelope]) -> dict[str, str]:
        """Store one or many messages in one round trip; encoding errors raise ``TypeError``.

        A message whose ``unique_key`` is held (:mod:`qtasks.core.unique`; by an earlier
        message of the same call too) is not stored: the answer maps its id to the
        holder's. Messages without a key are stored as they come (the answer is empty).
        """

    async def unique_hold(self, queue: str, key: str) -> tuple[str, float] | None:
        """Who last took ``key`` in ``queue`` and until when (its ``unique_until``), if the
        transport still keeps it: schedules read their last tick here."""

    async def claim(
        self, queues: Sequence[str], limit: int, *, lease: float, worker_id: str, wait: float
    ) -> list[Delivery]:
        """Lease up to ``limit`` due messages, best first; block up to ``wait`` seconds for one."""

    async def extend(self, ids: Sequence[str], *, lease: float, worker_id: str) -> dict[str, str]:
        """Push the lease of running messages ``lease`` seconds into the future.

        Returns those of ``ids`` whose cancellation was requested, with the reason given.
        """

    async def start_at_most_once(self, ids: Sequence[str], *, worker_id: str) -> None:
        """Mark claimed messages as started at most once (``acks_early``): if their lease
        runs out they fail with a lost-worker error instead of running again."""

    async def complete(
        self,
        outcomes: Sequence[Outcome],
        *,
        retention: Retention,
        claim: ClaimRequest | None = None,
    ) -> list[Delivery]:
        """Store outcomes and ack their messages atomically; records expire per ``retention``.

        With ``claim``, also lease the next due messages in the same round trip (a busy
        worker's cycle: hand back results, take new work) and return them.
        """

    async def release(self, ids: Sequence[str], *, worker_id: str, retention: Retention) -> None:
        """Give claimed messages back to the queue at once, without counting the attempt
        (those whose cancellation was requested become ``cancel`` instead)."""

    async def recover_expired(self, *, max_attempts: int, retention: Retention) -> int:
        """Requeue messages whose lease ran out; fail those at ``max_attempts`` and those
        started at most once."""

    async def housekeep(self) -> None:
        """Transport upkeep a worker runs every second or so (SQLite: a WAL checkpoint)."""

    async def purge_expired(self) -> int:
        """Delete results whose TTL has passed; returns how many."""

    async def cancel(self, task_id: str, reason: str, *, retention: Retention) -> CancelState:
        """Cancel a waiting task at once, or ask the worker running it to stop it."""

    async def dead_letters(self, query: DeadLetterQuery) -> list[StoredTask]:
        """Tasks whose last run failed (status ``error``), most recently failed first."""

    async def requeue_dead(self, query: DeadLetterQuery) -> int:
        """Put matching dead letters back in their queue (same id, attempts from zero)."""

    async def purge_dead(self, query: DeadLetterQuery) -> int:
        """Delete matching dead letters; returns how many."""

    async def get(self, task_id: str) -> StoredTask | None:
        """The stored task, or ``None`` if unknown or expired."""

    async def wait(self, task_id: str, timeout: float) -> StoredTask | None:
        """Wait until the task is final (or ``timeout``) and return it as stored then."""

    async def count(self, queues: Sequence[str] | None = None) -> dict[str, int]:
        """How many tasks are in each status."""

    async def flush_all(self) -> None:
        """Delete every message and result of this broker's namespace (other apps' stay)."""

    # what operators read: listings, workers, depths, per-minute counts -------------------

    async def list_tasks(self, query: TaskQuery) -> list[StoredTask]:
        """Stored tasks matching ``query`` (any status, waiting ones included), newest
        first by id, at most ``query.limit``, older than ``query.before`` if given."""

    async def queue_depths(self, queues: Sequence[str] | None = None) -> list[QueueDepth]:
        """Per queue (those given, else every queue holding a task not yet final): how many
        tasks are ready, delayed and running now."""

    async def heartbeat(
        self, info: WorkerInfo, *, ttl: float, counts: Sequence[MinuteCounts] = ()
    ) -> None:
        """Record that worker ``info.id`` is alive as ``info`` says (an upsert), and add
        ``counts`` (what it finished since its last heartbeat) to the per-minute totals.
        A worker not heard of for ``ttl`` seconds is dead; its record is kept an hour
        after its last heartbeat so operators see it die, then dropped. Totals are kept
        for two hours."""

    async def worker_stopped(self, worker_id: str) -> None:
        """The worker stopped cleanly: mark its record ``stopped`` (kept, like a dead one)."""

    async def workers(self) -> list[WorkerInfo]:
        """Every worker heard of in the last hour, alive, stopped or dead, newest first."""

    async def throughput(self, since_minute: int) -> list[MinuteCounts]:
        """Per-minute totals from ``since_minute`` (Unix time // 60) on, oldest first, one
        row per minute and queue. ``enqueued`` is counted by the transport at enqueue;
        the other fields come from the workers' heartbeats."""
