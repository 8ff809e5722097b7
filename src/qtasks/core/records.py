"""What brokers hand back: claimed deliveries, outcomes to store, stored rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

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


#: Appended to a traceback whose text had to be escaped to be stored.
ESCAPED_NOTE = (
    "[qtasks: this text held characters no store accepts (a NUL or a lone surrogate); "
    "they are stored escaped, as \\x00 / \\udXXX]"
)


def storable_text(text: str) -> str | None:
    """``text`` escaped so that every transport can store it (NUL and lone surrogates as
    backslash escapes), or ``None`` when it needs no change (the common case, checked fast)."""
    if "\x00" not in text:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            pass
        else:
            return None
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def storable(outcome: Outcome) -> Outcome:
    """``outcome`` with its texts (traceback, error type, cancel reason) in a form every
    transport accepts: an exception message may hold a lone surrogate or a NUL, which
    SQLite, Redis and PostgreSQL refuse; escaped, it is stored, with a note saying so."""
    if outcome.traceback is None and outcome.error_type is None and outcome.cancel_reason is None:
        return outcome  # a success: nothing to check
    changes: dict[str, str] = {}
    for name in ("traceback", "error_type", "cancel_reason"):
        value = getattr(outcome, name)
        if value is not None and (escaped := storable_text(value)) is not None:
            changes[name] = escaped
    if not changes:
        return outcome
    if "traceback" in changes:
        changes["traceback"] += "\n" + ESCAPED_NOTE
    return dataclasses.replace(outcome, **changes)  # type: ignore[arg-type]


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


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetterQuery:
    """Which dead letters (tasks whose last run failed) an operation acts on.

    Fields narrow the selection together; with none set, it is every dead letter.
    """

    ids: tuple[str, ...] | None = None
    task_name: str | None = None
    queues: tuple[str, ...] | None = None
    limit: int | None = None
    """Listing only: at most this many, most recently failed first."""

    def matches(self, task: StoredTask) -> bool:
        """The query as a predicate (transports that filter in Python use it)."""
        return (
            task.status is TaskStatusEnum.ERROR
            and (self.ids is None or task.id in self.ids)
            and (self.task_name is None or task.task_name == self.task_name)
            and (self.queues is None or task.queue in self.queues)
        )


class CancelState(StrEnum):
    """What ``cancel(task_id)`` found and did."""

    CANCELLED = "cancelled"
    """It was waiting (queued or delayed): it is now ``cancel`` and will never run."""
    REQUESTED = "requested"
    """It is running: its worker was asked to stop it (async tasks are cancelled; a sync
    task can check ``self.ctx.cancel_requested`` and is stored as ``cancel`` when it ends)."""
    FINISHED = "finished"
    """It had already finished: nothing changed."""
    UNKNOWN = "unknown"
    """No such task (or its record expired)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Retention:
    """How long finished records are kept (seconds; ``None`` keeps them)."""

    result_ttl: float | None
    dead_ttl: float | None
    """For dead letters (``error`` records): usually longer, so failures can be inspected
    and requeued."""

    def ttl_for(self, status: TaskStatusEnum) -> float | None:
        return self.dead_ttl if status is TaskStatusEnum.ERROR else self.result_ttl

    def expiry(self, status: TaskStatusEnum, now: float) -> float | None:
        """The absolute time a record finished now with ``status`` expires."""
        ttl = self.ttl_for(status)
        return None if ttl is None else now + ttl
