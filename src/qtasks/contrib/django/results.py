"""Django ``TaskResult``s from stored qtasks records.

A Django result id is the id of the first task of a retry chain; each retry
is a record of its own, linked by ``retry_child``. The result reads the whole
chain: one error per failed attempt, every worker that claimed it, the status
of the last attempt.
"""

from __future__ import annotations

from typing import Any

from qtasks.contrib.django import compat
from qtasks.contrib.django.execution import BACKEND_HEADER, as_datetime, import_task
from qtasks.core.envelope import decode_envelope, decode_value
from qtasks.core.errors import MessageDecodeError
from qtasks.core.records import StoredTask
from qtasks.core.status import TaskStatusEnum

_STATUS = {
    TaskStatusEnum.NEW: "READY",
    TaskStatusEnum.PROCESS: "RUNNING",
    TaskStatusEnum.SUCCESS: "SUCCESSFUL",
    TaskStatusEnum.ERROR: "FAILED",
    TaskStatusEnum.CANCEL: "FAILED",
    TaskStatusEnum.RETRY: "READY",  # its next attempt is queued
}


def belongs_to(stored: StoredTask, alias: str) -> bool:
    """True when the record was enqueued through the Django backend ``alias``."""
    try:
        return decode_envelope(stored.body).headers.get(BACKEND_HEADER) == alias
    except MessageDecodeError:
        return False


def task_result(chain: list[StoredTask], alias: str) -> Any:
    """The ``TaskResult`` of a retry chain (first record first)."""
    first, last = chain[0], chain[-1]
    envelope = decode_envelope(first.body)
    task = import_task(first.task_name)
    deferred = envelope.eta > envelope.created_at + 0.001
    if (
        task.priority != first.priority
        or task.queue_name != first.queue
        or task.backend != alias
        or deferred
    ):
        task = task.using(
            priority=first.priority,
            queue_name=first.queue,
            backend=alias,
            run_after=as_datetime(envelope.eta) if deferred else None,
        )
    errors = [
        compat.TaskError(
            exception_class_path=record.error_type or "builtins.Exception",
            traceback=record.traceback or "",
        )
        for record in chain
        if record.status in (TaskStatusEnum.ERROR, TaskStatusEnum.RETRY)
    ]
    started = [r.started_at for r in chain if r.started_at is not None]
    result = compat.new_result(  # a decoded message's arguments are JSON-normal already
        task,
        first.id,
        compat.TaskResultStatus[_STATUS[last.status]],
        as_datetime(first.created_at),
        as_datetime(started[0]) if started else None,
        as_datetime(started[-1]) if started else None,
        as_datetime(last.finished_at) if last.status.is_final else None,
        list(envelope.args),
        dict(envelope.kwargs),
        alias,
        errors,
        [worker for record in chain for worker in record.worker_ids],
    )
    if last.status is TaskStatusEnum.SUCCESS:
        object.__setattr__(result, "_return_value", decode_value(last.result))
    return result
