"""The ``Task`` result record users read, with QTasks' field names."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from qtasks.core.envelope import Envelope, decode_envelope, decode_value
from qtasks.core.errors import MessageDecodeError
from qtasks.core.ids import task_uuid
from qtasks.core.records import StoredTask
from qtasks.core.status import TaskStatusEnum


class ResultSource(Protocol):
    """Whatever can wait for a task's final record (an app)."""

    def _wait_record(self, uuid: UUID | str, timeout: float) -> Task | None: ...

    async def _await_record(self, uuid: UUID | str, timeout: float) -> Task | None: ...


@dataclass(slots=True)
class Task:
    """A task as stored: the request, its status, and once finished its result."""

    status: str
    uuid: UUID
    priority: int
    task_name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    returning: Any | None = None
    traceback: str | None = None
    retry: int | None = None
    """Retries left after this attempt, when the task was declared with ``retry``."""
    retry_child_uuid: UUID | None = None
    retry_parent_uuid: UUID | None = None
    cancel_reason: str | None = None
    queue: str = "default"
    attempt: int = 0
    """How many times a worker started it (1 after a normal run, more after recovery)."""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    worker_id: str | None = None
    deduplicated: bool = False
    """True when ``add_task`` stored nothing: a task with the same unique key was waiting or
    running (or held it for ``unique_for``), and this is that task's record."""
    _source: ResultSource | None = field(default=None, repr=False, compare=False)

    def wait_result(self, timeout: float = 100.0) -> Task | None:
        """Block until the task is final and return its record, or ``None`` on timeout."""
        if self._source is None:
            raise RuntimeError("this record is not attached to an app")
        return self._source._wait_record(self.uuid, timeout)

    async def wait_result_async(self, timeout: float = 100.0) -> Task | None:
        """Await the final record, or ``None`` on timeout."""
        if self._source is None:
            raise RuntimeError("this record is not attached to an app")
        return await self._source._await_record(self.uuid, timeout)


def _datetime(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def record_from_stored(stored: StoredTask, source: ResultSource | None) -> Task:
    """Build the user-facing record from a broker row."""
    try:
        envelope = decode_envelope(stored.body)
        args, kwargs, retries_left = envelope.args, envelope.kwargs, envelope.retries_left
    except MessageDecodeError:
        args, kwargs, retries_left = (), {}, 0
    returning = decode_value(stored.result) if stored.status is TaskStatusEnum.SUCCESS else None
    return Task(
        status=stored.status.value,
        uuid=task_uuid(stored.id),
        priority=stored.priority,
        task_name=stored.task_name,
        args=tuple(args),
        kwargs=dict(kwargs),
        created_at=datetime.fromtimestamp(stored.created_at, UTC),
        updated_at=datetime.fromtimestamp(stored.updated_at, UTC),
        returning=returning,
        traceback=stored.traceback,
        retry=retries_left if retries_left or stored.retry_parent or stored.retry_child else None,
        retry_child_uuid=UUID(stored.retry_child) if stored.retry_child else None,
        retry_parent_uuid=UUID(stored.retry_parent) if stored.retry_parent else None,
        cancel_reason=stored.cancel_reason,
        queue=stored.queue,
        attempt=stored.attempt,
        started_at=_datetime(stored.started_at),
        finished_at=_datetime(stored.finished_at),
        worker_id=stored.worker_id,
        _source=source,
    )


_NEW = TaskStatusEnum.NEW.value


def record_from_envelope(
    envelope: Envelope, source: ResultSource | None, created: datetime | None = None
) -> Task:
    """The record of a task just enqueued (status ``new``), without a round trip.

    ``created``: the envelope's ``created_at`` as a datetime, when the caller has it
    already (a bulk enqueue stamps every envelope with one time).
    """
    if created is None:
        created = datetime.fromtimestamp(envelope.created_at, UTC)
    return Task(
        status=_NEW,
        uuid=task_uuid(envelope.id),
        priority=envelope.priority,
        task_name=envelope.task_name,
        args=envelope.args,
        kwargs=envelope.kwargs,
        created_at=created,
        updated_at=created,
        retry=envelope.retries_left or None,
        retry_parent_uuid=UUID(envelope.retry_of) if envelope.retry_of else None,
        queue=envelope.queue,
        _source=source,
    )
