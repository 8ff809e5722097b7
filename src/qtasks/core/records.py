"""What brokers hand back: claimed deliveries, outcomes to store, stored rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qtasks.core.envelope import Envelope
from qtasks.core.status import TaskStatusEnum


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """A message claimed by a worker, still encoded; the worker decodes it."""

    id: str
    body: bytes
    attempt: int
    """1 on the first delivery, +1 each time a lease expired (not when released)."""
    worker_ids: tuple[str, ...] = ()
    """Every worker that claimed this message, the current one last."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """The end of one run, stored and acknowledged in one step by ``Broker.complete``."""

    id: str
    status: TaskStatusEnum
    result: bytes | None = None
    """The JSON-encoded return value, for SUCCESS."""
    traceback: str | None = None
    error_type: str | None = None
    """``module.QualName`` of the exception that failed the run."""
    finished_at: float
    retry: Envelope | None = None
    """For RETRY: the child message enqueued in the same atomic step."""
    cancel_reason: str | None = None
    queue: str | None = None
    """The task's queue, when the worker knows it (lets a transport skip a lookup)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredTask:
    """A task's row as a broker keeps it: the request and, once finished, the result."""

    id: str
    task_name: str
    queue: str
    status: TaskStatusEnum
    priority: int
    body: bytes
    attempt: int
    created_at: float
    updated_at: float
    started_at: float | None = None
    finished_at: float | None = None
    result: bytes | None = None
    traceback: str | None = None
    worker_id: str | None = None
    retry_parent: str | None = None
    retry_child: str | None = None
    cancel_reason: str | None = None
    worker_ids: tuple[str, ...] = ()
    """Every worker that claimed it, in order (one per attempt)."""
    error_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimRequest:
    """A non-blocking claim to run in the same round trip as storing outcomes."""

    queues: Sequence[str]
    limit: int
    lease: float
    worker_id: str
