"""What the monitor returns: plain records the CLI, the dashboard and Django's admin show
and turn into JSON (no I/O here)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from qtasks.core.inspection import COUNT_FIELDS, MinuteCounts, QueueDepth, WorkerInfo
from qtasks.core.result import Task


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerView:
    """A worker as its heartbeats describe it, and whether it still beats."""

    info: WorkerInfo
    state: str
    """``alive``, ``stopped`` (said goodbye) or ``dead`` (its heartbeat expired)."""

    @property
    def alive(self) -> bool:
        return self.state == "alive"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueView:
    """One queue now (depth) and over the last ``minutes`` (per-minute counts)."""

    depth: QueueDepth
    minutes: tuple[MinuteCounts, ...]
    """One row per minute, oldest first, every minute of the window (zeros included)."""

    @property
    def name(self) -> str:
        return self.depth.queue

    def total(self, what: str) -> int:
        """The window's sum of one count (``enqueued``, ``succeeded``, ``failed``, …)."""
        return sum(getattr(row, what) for row in self.minutes)

    @property
    def failure_rate(self) -> float | None:
        """Failed of finished (success + failure) in the window; ``None`` when none."""
        failed, succeeded = self.total("failed"), self.total("succeeded")
        return None if failed + succeeded == 0 else failed / (failed + succeeded)


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskDetail:
    """One task and the retry chain it belongs to."""

    task: Task
    worker_ids: tuple[str, ...]
    """Every worker that claimed this task, one per attempt, in order."""
    error_type: str | None
    chain: tuple[Task, ...]
    """Every attempt of the same call, first to last (retries are tasks of their own);
    just ``(task,)`` for a task that never retried."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Overview:
    """Everything ``status --watch`` and the dashboard's front page show."""

    taken_at: float
    counts: dict[str, int]
    """Tasks in each status."""
    queues: tuple[QueueView, ...]
    workers: tuple[WorkerView, ...]
    failures: tuple[Task, ...]
    """The most recent dead letters."""
    minutes: int
    """The window of the queues' counts."""


def jsonable(value: Any) -> Any:
    """``value`` (the records above, ``Task``, lists of them) as JSON-ready data."""
    if isinstance(value, Task):
        data = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        data.pop("_source", None)
        return jsonable(data)
    if isinstance(value, WorkerView):
        return {**jsonable(value.info), "state": value.state}
    if isinstance(value, QueueView):
        return {
            **jsonable(value.depth),
            "totals": {w: value.total(w) for w in _COUNTS},
            "failure_rate": value.failure_rate,
            "minutes": jsonable(value.minutes),
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)  # a task's odd return value: shown, never a crash


_COUNTS = COUNT_FIELDS


def window(rows: list[MinuteCounts], queue: str, first: int, last: int) -> tuple[MinuteCounts, ...]:
    """``queue``'s rows from minute ``first`` to ``last``, one per minute (zeros filled)."""
    by_minute = {r.minute: r for r in rows if r.queue == queue}
    return tuple(
        by_minute.get(m, MinuteCounts(minute=m, queue=queue)) for m in range(first, last + 1)
    )
