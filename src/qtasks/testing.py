"""Helpers for testing code that uses qtasks: a real worker, in-process.

Nothing here fakes the engine: every helper runs the app's own worker, so a
task's arguments are encoded and decoded, its hooks run and its outcome is
stored exactly as in production.

- ``drain(app)`` (``await drain_async(app)``) runs every due task now, in the
  calling thread, and returns when none is due (Dramatiq's ``join``).
- ``worker_thread(app)`` keeps a worker running in a background thread for a
  ``with`` block, so sync code under test can ``add_task(..., timeout=...)``.
- ``in_memory(app)`` points an existing app at a fresh ``memory://`` queue for
  a ``with`` block (then back at its own transport).
- ``eager(app)`` makes ``add_task`` run the task before it returns: the final
  record comes back, and a task's exception is raised in the caller.
- ``Drainer(app)`` is ``drain`` keeping the errors of the tasks that failed.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from qtasks.app import AppCore
from qtasks.brokers.urls import broker_factory
from qtasks.client import Client
from qtasks.core.broker import blocking_caller
from qtasks.core.errors import QTasksError
from qtasks.core.hooks import Hook, Run
from qtasks.core.records import Outcome
from qtasks.core.result import Task
from qtasks.core.status import TaskStatusEnum
from qtasks.worker import Worker

#: How long an eager ``add_task`` (and a test case's in-process run) waits for its task
#: when the call gives no ``timeout``.
EAGER_TIMEOUT = 60.0


class TaskFailedError(QTasksError):
    """An eager task (or a drained one) failed without an exception object to re-raise
    (its message did not decode, its task is not registered): ``record`` is its record."""

    def __init__(self, message: str, record: Task | None = None) -> None:
        super().__init__(message)
        self.record = record


@dataclass(frozen=True, slots=True)
class TaskError:
    """A task that failed in a worker run by these helpers, with what it raised."""

    task_id: str
    task_name: str
    error: BaseException
    """The exception itself (the task's, or the ``HookError`` of a hook that failed it)."""
    traceback: str
    """The traceback text stored with the record."""


class ErrorLog(Hook):
    """Keeps the exception of every run that ends ``error`` (outermost: it sees the
    outcome the retry hook and the others decided)."""

    order = 0

    def __init__(self) -> None:
        self.errors: dict[str, TaskError] = {}
        self._lock = threading.Lock()  # sync tasks finish on pool threads of other loops

    async def outcome(self, run: Run, outcome: Outcome, error: BaseException | None) -> Outcome:
        if outcome.status is TaskStatusEnum.ERROR and error is not None:
            failure = TaskError(outcome.id, run.definition.name, error, outcome.traceback or "")
            with self._lock:
                self.errors[outcome.id] = failure
        return outcome


@contextmanager
def logging_errors(app: AppCore[Any]) -> Iterator[ErrorLog]:
    """An :class:`ErrorLog` on ``app``'s chain for the block (workers made inside it)."""
    hook = ErrorLog()
    app.add_hook(hook)
    try:
        yield hook
    finally:
        app.hooks.remove(hook)


# draining --------------------------------------------------------------------------------


async def drain_async(
    app: AppCore[Any], *, queues: Sequence[str] | None = None, concurrency: int = 10
) -> int:
    """``drain`` in the running event loop (for async tests)."""
    token = blocking_caller.set(False)  # a worker, not a sync caller (see blocking_caller)
    try:
        worker = app.make_worker(queues=queues, concurrency=concurrency, burst=True)
        await worker.run(install_signals=False)
        return worker.processed
    finally:
        blocking_caller.reset(token)


def drain(app: AppCore[Any], *, queues: Sequence[str] | None = None, concurrency: int = 10) -> int:
    """Run tasks until none is due; returns how many outcomes were stored."""
    return asyncio.run(drain_async(app, queues=queues, concurrency=concurrency))


class Drainer:
    """``drain(app)`` that keeps the errors of the tasks that failed in it.

    ``drainer()`` returns the count; ``drainer.errors`` lists every failure so far;
    ``drainer(raise_errors=True)`` re-raises the first failure of that drain.
    """

    def __init__(self, app: AppCore[Any]) -> None:
        self.app = app
        self.errors: list[TaskError] = []

    def __call__(
        self,
        *,
        raise_errors: bool = False,
        queues: Sequence[str] | None = None,
        concurrency: int = 10,
    ) -> int:
        """Drain on the app's private loop (from async code: on a helper thread)."""
        app = self.app
        with logging_errors(app) as log:
            count = app._runner.run(drain_async(app, queues=queues, concurrency=concurrency))
        return self._report(count, log, raise_errors)

    async def run_async(
        self,
        *,
        raise_errors: bool = False,
        queues: Sequence[str] | None = None,
        concurrency: int = 10,
    ) -> int:
        """The same, in the running event loop."""
        with logging_errors(self.app) as log:
            count = await drain_async(self.app, queues=queues, concurrency=concurrency)
        return self._report(count, log, raise_errors)

    def _report(self, count: int, log: ErrorLog, raise_errors: bool) -> int:
        new = list(log.errors.values())
        self.errors.extend(new)
        if raise_errors and new:
            raise new[0].error
        return count


# a worker until given tasks are final ------------------------------------------------------


async def run_until_final(
    app: AppCore[Any], task_ids: Sequence[str], timeout: float
) -> list[Task | None]:
    """Run a worker in this loop until every task of ``task_ids`` is final (following
    retries to the last attempt) or ``timeout`` runs out; their records, ``None`` for those
    not final in time. Once they are final the worker stops gracefully (tasks they started
    may finish); when time ran out it stops at once, and what it held goes back to the queue.
    It claims nothing ahead (``prefetch=0``), so a task waiting on another one never holds
    that one in its reserve."""
    await asyncio.sleep(0)  # the sync facade may start a coroutine outside a Task; now in one
    token = blocking_caller.set(False)  # a worker, not a sync caller (see blocking_caller)
    worker = app.make_worker(prefetch=0)
    running = asyncio.ensure_future(worker.run(install_signals=False))
    waiting = asyncio.ensure_future(_final_records(app, task_ids, timeout))
    try:
        await asyncio.wait({running, waiting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        finished = (
            waiting.done()
            and not waiting.cancelled()
            and waiting.exception() is None
            and None not in waiting.result()
        )
        worker.request_stop(force=not finished)
        if not waiting.done():
            waiting.cancel()
        await asyncio.wait({running, waiting})
        blocking_caller.reset(token)
    running.result()  # a worker that failed (a worker_start hook raised) fails the call
    if waiting.cancelled():
        raise QTasksError(f"worker {worker.id} stopped before the tasks finished")
    return waiting.result()


async def _final_records(
    app: AppCore[Any], task_ids: Sequence[str], timeout: float
) -> list[Task | None]:
    deadline = time.monotonic() + timeout
    return [
        await app._await_record(task_id, max(0.0, deadline - time.monotonic()))
        for task_id in task_ids
    ]


# an existing app on memory -----------------------------------------------------------------


@contextmanager
def in_memory(app: AppCore[Any], name: str | None = None) -> Iterator[AppCore[Any]]:
    """Point ``app`` at the queue ``memory://<name>`` (default: a fresh one) for the block,
    then back at its own transport; the memory queue is emptied at the end."""
    url = f"memory://{name or uuid.uuid4().hex}"
    saved = app._client, app.broker_url
    memory = Client(broker_factory(url, app.name), max_message_bytes=saved[0].max_message_bytes)
    app._client, app.broker_url = memory, url
    try:
        yield app
    finally:
        app._client, app.broker_url = saved
        app._runner.run(memory.flush_all())


# eager mode --------------------------------------------------------------------------------

_EAGER_ENTRY_POINTS = ("_add_task", "_add_tasks")


@contextmanager
def eager(
    app: AppCore[Any], *, propagate: bool = True, timeout: float = EAGER_TIMEOUT
) -> Iterator[AppCore[Any]]:
    """Within the block, every enqueue through ``app`` runs its task before returning.

    The call takes the real path (hooks, encoding, the broker, a worker decoding it);
    ``add_task`` then returns the task's final record instead of the ``new`` one. With
    ``propagate``, a task that ended ``error`` raises its exception in the caller. A task
    given an ``eta`` in the future is left queued. Retries run with their real backoff.
    """
    if any(name in vars(app) for name in _EAGER_ENTRY_POINTS):
        raise RuntimeError(f"app {app.name!r} is already in eager mode")
    add_task, add_tasks = type(app)._add_task, type(app)._add_tasks

    async def eager_add_task(
        task_name: str, args: Sequence[Any], kwargs: dict[str, Any], **options: Any
    ) -> Task | None:
        timeout, eta = options.pop("timeout", None), options.get("eta")
        record = await add_task(app, task_name, args, kwargs, timeout=None, **options)
        if record is None or (eta is not None and eta > time.time()):
            return record
        (final,) = await _run_eagerly([record], timeout, raise_missing=timeout is None)
        if final is not None:
            final.deduplicated = record.deduplicated
        return final

    async def eager_add_tasks(calls: Iterable[Any], *, priority: int | None = None) -> list[Task]:
        records: list[Task] = await add_tasks(app, calls, priority=priority)
        finals = await _run_eagerly(records, None, raise_missing=True)
        for record, final in zip(records, finals, strict=True):
            if final is not None:
                final.deduplicated = record.deduplicated
        return [f for f in finals if f is not None]

    async def _run_eagerly(
        records: list[Task], wait: float | None, *, raise_missing: bool
    ) -> list[Task | None]:
        with logging_errors(app) as log:
            finals = await run_until_final(
                app, [str(r.uuid) for r in records], timeout if wait is None else wait
            )
        for record, final in zip(records, finals, strict=True):
            if final is None and raise_missing:
                raise TimeoutError(f"eager task {record.task_name} {record.uuid} did not finish")
            if propagate and final is not None and final.status == TaskStatusEnum.ERROR.value:
                failure = log.errors.get(str(final.uuid))
                if failure is not None:
                    raise failure.error
                raise TaskFailedError(
                    f"eager task {final.task_name} {final.uuid} failed:\n{final.traceback}", final
                )
        return finals

    replacements: dict[str, Callable[..., Coroutine[Any, Any, Any]]] = {
        "_add_task": eager_add_task,
        "_add_tasks": eager_add_tasks,
    }
    vars(app).update(replacements)  # the app's two enqueue entry points, for this block
    try:
        yield app
    finally:
        for name in _EAGER_ENTRY_POINTS:
            vars(app).pop(name, None)


# a worker in a thread ----------------------------------------------------------------------


@contextmanager
def worker_thread(app: AppCore[Any], **options: Any) -> Iterator[Worker]:
    """A worker running in a daemon thread until the block ends (then stopped gracefully)."""
    worker = app.make_worker(**options)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_until_complete(worker.run(install_signals=False))
        loop.close()

    thread = threading.Thread(target=serve, name="qtasks-test-worker", daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield worker
    finally:
        if not loop.is_closed():
            loop.call_soon_threadsafe(worker.request_stop)
        thread.join(30)
        if thread.is_alive():  # never leave a worker running into the caller's next steps
            raise RuntimeError(f"worker {worker.id} did not stop within 30 s")


__all__ = [
    "EAGER_TIMEOUT",
    "Drainer",
    "ErrorLog",
    "TaskError",
    "TaskFailedError",
    "drain",
    "drain_async",
    "eager",
    "in_memory",
    "logging_errors",
    "run_until_final",
    "worker_thread",
]
