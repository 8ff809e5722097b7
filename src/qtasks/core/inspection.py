"""What an operator reads off a running system, as every transport returns it: task
listings, live workers, queue depths and per-minute counts (no I/O here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from qtasks.core.status import TaskStatusEnum

#: How often a worker sends its heartbeat.
HEARTBEAT_EVERY = 2.0
#: A worker not heard of for this long is dead (several missed beats, not one slow one).
WORKER_TTL = 10.0
#: Every transport keeps a worker's record this long after its last heartbeat (seconds),
WORKER_KEEP = 3600.0
#: and the per-minute counts this many minutes.
COUNTS_KEEP_MINUTES = 120


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskQuery:
    """Which stored tasks ``Broker.list_tasks`` returns: newest first (by id: ids are
    time-ordered UUIDv7), at most ``limit``, older than ``before`` when given (a cursor:
    the last id of the previous page)."""

    statuses: tuple[TaskStatusEnum, ...] = ()
    """Empty: every status."""
    queues: tuple[str, ...] = ()
    """Empty: every queue."""
    task_name: str | None = None
    limit: int = 50
    before: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerInfo:
    """One worker process as its heartbeats describe it."""

    id: str
    """``host:pid:random``, as in ``Task.worker_id``."""
    host: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    started_at: float
    """Unix time the worker started."""
    last_seen: float
    """Unix time of its last heartbeat."""
    running: tuple[str, ...] = ()
    """Ids of the tasks it runs now."""
    done: int = 0
    """Tasks it finished (any final status) since it started."""
    failed: int = 0
    """Of those, how many ended in ``error``."""
    stopped: bool = False
    """It said goodbye (a clean stop); a worker whose heartbeat expired is not stopped,
    it is dead: see :meth:`alive`."""

    def alive(self, now: float, ttl: float) -> bool:
        """Whether it still beats: not stopped, and seen within ``ttl`` seconds."""
        return not self.stopped and now - self.last_seen <= ttl

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (lists for the tuples): what a transport stores."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["queues"], data["running"] = list(self.queues), list(self.running)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **overrides: Any) -> WorkerInfo:
        """Back from :meth:`to_dict`'s form (extra keys, such as a transport's own
        columns, ignored); ``overrides`` replace fields."""
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["queues"] = tuple(values["queues"])
        values["running"] = tuple(values.get("running", ()))
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueDepth:
    """Tasks of one queue not yet final, now."""

    queue: str
    ready: int
    """Due now, waiting for a worker."""
    delayed: int
    """Waiting for their ``eta`` (retries with backoff included)."""
    running: int
    """Claimed by a worker."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MinuteCounts:
    """What happened in one queue during one minute (``minute``: Unix time // 60)."""

    minute: int
    queue: str
    enqueued: int = 0
    """Calls sent by clients (a retry is counted in ``retried``, not here)."""
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    cancelled: int = 0


#: The counts of a :class:`MinuteCounts`, in field order (the name each transport stores).
COUNT_FIELDS = ("enqueued", "succeeded", "failed", "retried", "cancelled")


@dataclass(slots=True)
class CountsBuffer:
    """Per-minute outcome counts a worker gathers in memory and hands to the broker with
    its heartbeat (one write every few seconds, not one per task)."""

    counts: dict[tuple[int, str, str], int] = field(default_factory=dict)

    def add(self, minute: int, queue: str, what: str, n: int = 1) -> None:
        key = (minute, queue, what)
        self.counts[key] = self.counts.get(key, 0) + n

    def drain(self) -> list[MinuteCounts]:
        """The gathered counts, one record per (minute, queue); the buffer is emptied."""
        merged: dict[tuple[int, str], dict[str, int]] = {}
        for (minute, queue, what), n in self.counts.items():
            merged.setdefault((minute, queue), {})[what] = n
        self.counts = {}
        return [MinuteCounts(minute=m, queue=q, **fields) for (m, q), fields in merged.items()]


def merge_counts(rows: Sequence[MinuteCounts]) -> list[MinuteCounts]:
    """Rows of the same minute and queue summed (transports store them in pieces)."""
    total: dict[tuple[int, str], dict[str, int]] = {}
    for row in rows:
        into = total.setdefault((row.minute, row.queue), {})
        for name in COUNT_FIELDS:
            into[name] = into.get(name, 0) + getattr(row, name)
    return [
        MinuteCounts(minute=m, queue=q, **fields) for (m, q), fields in sorted(total.items())
    ]
