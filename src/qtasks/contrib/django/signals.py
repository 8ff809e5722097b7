"""Django's ``task_started`` / ``task_finished`` signals, sent by one hook (order 200).

The hook joins only the chains of Django tasks (definitions the backend's resolver
built, marked with :data:`DJANGO_TASK`). Around each run it builds the ``RUNNING``
``TaskResult`` (the one a ``takes_context`` task sees as ``context.task_result``: the
hook passes it to the task function first), sends ``task_started``, runs the rest of
the chain, marks the result ``SUCCESSFUL`` or ``FAILED`` and sends ``task_finished``.
The time limit is an inner hook, so a task past ``max_time`` reaches here as
``TaskTimeoutError`` when the limit expires, not when its thread ends; a retried run
sends ``task_finished`` (``FAILED``) and its next attempt ``task_started`` again.

Signals are sent on a thread (``sync_to_async(thread_sensitive=False)``), never on the
worker's loop, so receivers may use the ORM; Django's ``close_old_connections()`` runs
around each send, as around a request. A ``task_started`` receiver that raises fails
the run (as Django's own backends do); a ``task_finished`` one is logged: the task's
outcome is already decided. A worker shutting down releases the run without a signal
(the task runs again).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from qtasks.contrib.django import compat
from qtasks.core.definition import TaskDefinition
from qtasks.core.errors import exception_path, format_error
from qtasks.core.hooks import CallNext, Hook, Run
from qtasks.worker.retries import all_worker_ids, root_id

log = logging.getLogger("qtasks.contrib.django")

#: Key of ``TaskDefinition.extra`` holding a Django task's :class:`DjangoTaskSpec`.
DJANGO_TASK = "django.task"


@dataclass(frozen=True, slots=True)
class DjangoTaskSpec:
    """What the hook needs to know of a Django task definition."""

    task: Any
    """The Django ``Task`` object (module-level ``@task``)."""
    sender: type
    """The backend class: the signals' ``sender``."""
    alias: str
    """The backend alias the task was enqueued through."""


def as_datetime(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def running_result(spec: DjangoTaskSpec, run: Run) -> Any:
    """The ``RUNNING`` ``TaskResult`` of this run (id: the first attempt's)."""
    envelope = run.envelope
    task = spec.task
    if (
        task.priority != envelope.priority
        or task.queue_name != envelope.queue
        or task.backend != spec.alias
    ):
        task = task.using(priority=envelope.priority, queue_name=envelope.queue, backend=spec.alias)
    now = datetime.now(UTC)
    return compat.TaskResult(
        task=task,
        id=root_id(envelope),
        status=compat.TaskResultStatus.RUNNING,
        enqueued_at=as_datetime(envelope.created_at),
        started_at=now,
        last_attempted_at=now,
        finished_at=None,
        args=list(run.args),
        kwargs=run.kwargs,
        backend=spec.alias,
        errors=[],
        worker_ids=list(all_worker_ids(envelope, run.delivery)),
    )


def mark_finished(result: Any, exc: BaseException | None, value: Any = None) -> None:
    """Set ``result`` to ``SUCCESSFUL`` with ``value``, or ``FAILED`` with ``exc``."""
    object.__setattr__(result, "finished_at", datetime.now(UTC))
    if exc is None:
        object.__setattr__(result, "status", compat.TaskResultStatus.SUCCESSFUL)
        object.__setattr__(result, "_return_value", value)
    else:
        object.__setattr__(result, "status", compat.TaskResultStatus.FAILED)
        result.errors.append(
            compat.TaskError(exception_class_path=exception_path(exc), traceback=format_error(exc))
        )


def _send_in_thread(signal: Any, sender: type, result: Any) -> None:
    close_old_connections()
    try:
        signal.send(sender=sender, task_result=result)
    finally:
        close_old_connections()


_send = sync_to_async(_send_in_thread, thread_sensitive=False)


class DjangoSignals(Hook):
    """Sends ``task_started`` / ``task_finished`` around every run of a Django task."""

    order = 200

    def applies(self, definition: TaskDefinition) -> bool:
        return DJANGO_TASK in definition.extra

    async def execute(self, run: Run, call_next: CallNext) -> Any:
        spec: DjangoTaskSpec = run.definition.extra[DJANGO_TASK]
        result = running_result(spec, run)
        run.args = (result, *run.args)  # the task function gets the result first
        if compat.task_started.has_listeners(spec.sender):
            await _send(compat.task_started, spec.sender, result)
        try:
            value = await call_next(run)
        except BaseException as exc:
            if not _worker_stopping(exc):
                await self._finished(spec, result, exc)
            raise
        await self._finished(spec, result, None, value)
        return value

    async def _finished(
        self, spec: DjangoTaskSpec, result: Any, exc: BaseException | None, value: Any = None
    ) -> None:
        mark_finished(result, exc, value)
        if not compat.task_finished.has_listeners(spec.sender):
            return
        try:
            await _send(compat.task_finished, spec.sender, result)
        except Exception:
            log.exception("a task_finished receiver failed for task %s", result.id)


def _worker_stopping(exc: BaseException) -> bool:
    """True when ``exc`` is the worker cancelling the run to stop (it is released)."""
    task = asyncio.current_task()
    return isinstance(exc, asyncio.CancelledError) and task is not None and task.cancelling() > 0


def install_signals(app: Any) -> None:
    """Add the signals hook to ``app``'s chain (once, however many aliases share it)."""
    if not app.hooks.of_type(DjangoSignals):
        app.add_hook(DjangoSignals())


__all__ = [
    "DJANGO_TASK",
    "DjangoSignals",
    "DjangoTaskSpec",
    "install_signals",
    "mark_finished",
    "running_result",
]
