"""Django's ``task_started`` / ``task_finished`` signals, sent by one hook (order 200).

The hook joins only the chains of Django tasks (definitions the backend's resolver
built, marked with :data:`DJANGO_TASK`). Around each run it builds the ``RUNNING``
``TaskResult`` (the one a ``takes_context`` task sees as ``context.task_result``), sends
``task_started``, runs the rest of the chain, marks the result ``SUCCESSFUL`` or
``FAILED`` and sends ``task_finished``. The task function gets the run's
:class:`DjangoRun` first (the result, and who sends the signals).

Receivers never run on the worker's loop, so they may use the ORM; Django's
``close_old_connections()`` runs around them, as around a request:

- a ``def`` task with no other hook inside this one (the usual case: no ``max_time``,
  middlewares or user hooks): both signals are sent by the task's own thread, just
  before and after the function, in the same hand-over to the thread pool;
- otherwise (an ``async def`` task, or inner hooks whose outcome the signal must
  report: a run past ``max_time`` reaches here as ``TaskTimeoutError`` when the limit
  expires, not when its thread ends) each signal is sent on a thread of its own
  (``sync_to_async(thread_sensitive=False)``) by the hook.

A ``task_started`` receiver that raises fails the run (as Django's own backends do),
with :class:`~qtasks.core.errors.HookError` and no ``task_finished``; a
``task_finished`` one is logged: the task's outcome is already decided. A retried run
sends ``task_finished`` (``FAILED``) and its next attempt ``task_started`` again. A
worker shutting down releases the run without ``task_finished`` (the task runs again).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from qtasks.contrib.django import compat
from qtasks.core.definition import TaskDefinition
from qtasks.core.errors import HookError, exception_path, format_error
from qtasks.core.hooks import CallNext, Hook, HookChain, Run
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
    on_thread: bool = False
    """A ``def`` task: its function runs on the worker's thread pool."""


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
    return compat.new_result(  # a decoded message's arguments are JSON-normal already
        task,
        root_id(envelope),
        compat.TaskResultStatus.RUNNING,
        as_datetime(envelope.created_at),
        now,
        now,
        None,
        list(run.args),
        dict(run.kwargs),
        spec.alias,
        [],
        list(all_worker_ids(envelope, run.delivery)),
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


def _report_finished(sender: type, result: Any) -> None:
    """Send ``task_finished``; a receiver's error is logged (the outcome is decided)."""
    try:
        compat.task_finished.send(sender=sender, task_result=result)
    except Exception:
        log.exception("a task_finished receiver failed for task %s", result.id)


def _finished_in_thread(sender: type, result: Any) -> None:
    close_old_connections()
    try:
        _report_finished(sender, result)
    finally:
        close_old_connections()


_send = sync_to_async(_send_in_thread, thread_sensitive=False)
_send_finished = sync_to_async(_finished_in_thread, thread_sensitive=False)


class DjangoRun:
    """One run of a Django task, as the hook and the task function share it.

    ``on_thread``: the task's own thread sends both signals (:meth:`started` before the
    function, :meth:`finished` after it). Whoever first *closes* the run (that thread
    sending ``task_finished``, or the hook when the run ends otherwise: a shutdown, an
    error outside the function) is the only one to act on its end.
    """

    __slots__ = ("_closed", "_lock", "on_thread", "result", "spec")

    def __init__(self, spec: DjangoTaskSpec, result: Any, on_thread: bool) -> None:
        self.spec = spec
        self.result = result
        self.on_thread = on_thread
        self._closed = False
        self._lock = threading.Lock()

    def close(self) -> bool:
        """Mark the run ended; True for the first caller only."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            return True

    def started(self) -> None:
        """On the task's thread: send ``task_started`` (a receiver's error fails the run,
        with no ``task_finished``)."""
        if self._closed:
            return
        try:  # Django always connects its log receiver: no has_listeners() round first
            compat.task_started.send(sender=self.spec.sender, task_result=self.result)
        except Exception as exc:
            self.close()
            error = HookError(
                f"hook {DjangoSignals.__qualname__} failed in execute: {type(exc).__name__}: {exc}"
            )
            raise error from exc

    def finished(self, exc: BaseException | None, value: Any = None) -> None:
        """On the task's thread: mark the result and send ``task_finished`` (unless the
        hook closed the run meanwhile: the worker is stopping)."""
        if self.close():
            mark_finished(self.result, exc, value)
            _report_finished(self.spec.sender, self.result)


class DjangoSignals(Hook):
    """Sends ``task_started`` / ``task_finished`` around every run of a Django task."""

    order = 200

    def __init__(self, chain: HookChain | None = None) -> None:
        #: The chain this hook is part of: a ``def`` task whose chain ends with this hook
        #: gets its signals from its own thread.
        self.chain = chain

    def applies(self, definition: TaskDefinition) -> bool:
        return DJANGO_TASK in definition.extra

    def _innermost(self, definition: TaskDefinition) -> bool:
        chain = self.chain
        return chain is not None and chain.for_task(definition).executing[-1] is self

    async def execute(self, run: Run, call_next: CallNext) -> Any:
        spec: DjangoTaskSpec = run.definition.extra[DJANGO_TASK]
        state = DjangoRun(
            spec, running_result(spec, run), spec.on_thread and self._innermost(run.definition)
        )
        run.args = (state, *run.args)  # the task function gets the run first
        if not state.on_thread and compat.task_started.has_listeners(spec.sender):
            await _send(compat.task_started, spec.sender, state.result)
        try:
            value = await call_next(run)
        except BaseException as exc:
            if state.close() and not _worker_stopping(exc):
                await self._finished(spec, state.result, exc)
            raise
        if state.close():
            await self._finished(spec, state.result, None, value)
        return value

    async def _finished(
        self, spec: DjangoTaskSpec, result: Any, exc: BaseException | None, value: Any = None
    ) -> None:
        mark_finished(result, exc, value)
        if compat.task_finished.has_listeners(spec.sender):
            await _send_finished(spec.sender, result)


def _worker_stopping(exc: BaseException) -> bool:
    """True when ``exc`` is the worker cancelling the run to stop (it is released)."""
    task = asyncio.current_task()
    return isinstance(exc, asyncio.CancelledError) and task is not None and task.cancelling() > 0


def install_signals(app: Any) -> None:
    """Add the signals hook to ``app``'s chain (once, however many aliases share it)."""
    if not app.hooks.of_type(DjangoSignals):
        app.add_hook(DjangoSignals(app.hooks))


__all__ = [
    "DJANGO_TASK",
    "DjangoRun",
    "DjangoSignals",
    "DjangoTaskSpec",
    "install_signals",
    "mark_finished",
    "running_result",
]
