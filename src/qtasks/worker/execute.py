"""Run one decoded message and turn whatever happens into an :class:`Outcome`.

Nothing a task does escapes this module: a return value JSON cannot carry,
``SystemExit``, ``KeyboardInterrupt`` or any other ``BaseException`` becomes an
``error`` outcome with its traceback. Only the worker's own cancellation
(shutdown) propagates, so the message is released rather than failed.
"""

from __future__ import annotations

import asyncio
import json
import time
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

from qtasks.core.definition import TaskDefinition, TaskKind
from qtasks.core.envelope import Envelope, encode_value
from qtasks.core.errors import TaskCancelledError, TaskTimeoutError, exception_path
from qtasks.core.ids import new_task_id
from qtasks.core.records import Delivery, Outcome
from qtasks.core.retry import backoff_delay
from qtasks.core.status import TaskStatusEnum
from qtasks.worker.processes import ProcessRunner
from qtasks.worker.threads import ThreadRunner

#: Tells a running task whether ``cancel()`` asked to stop it (read from any thread).
CancelCheck = Callable[[], bool]
#: Builds the object an ``echo=True`` task receives as its first argument.
EchoFactory = Callable[[TaskDefinition, Envelope, Delivery, CancelCheck], Any]

#: Header carrying, into a retry, the workers that ran the earlier attempts (JSON list).
PRIOR_WORKERS = "qtasks.prior_worker_ids"
#: Header carrying, into a retry, the id of the first task of the chain.
ROOT_ID = "qtasks.root_id"


def root_id(envelope: Envelope) -> str:
    """The id of the first task of a retry chain (the task's own id if not a retry)."""
    return envelope.headers.get(ROOT_ID, envelope.id)


def all_worker_ids(envelope: Envelope, delivery: Delivery) -> tuple[str, ...]:
    """Every worker that claimed this task, earlier attempts of a retry chain included."""
    prior = envelope.headers.get(PRIOR_WORKERS)
    return (*json.loads(prior), *delivery.worker_ids) if prior else delivery.worker_ids


def format_error(exc: BaseException) -> str:
    """The traceback text stored with a failed task."""
    return "".join(traceback.format_exception(exc)).rstrip()


def error_outcome(task_id: str, exc: Exception) -> Outcome:
    """An ``error`` outcome for a message that could not even be run."""
    return Outcome(
        id=task_id,
        status=TaskStatusEnum.ERROR,
        traceback=f"{exception_path(exc)}: {exc}",
        error_type=exception_path(exc),
        finished_at=time.time(),
    )


def cancel_outcome(task_id: str, queue: str | None, reason: str) -> Outcome:
    """A ``cancel`` outcome: the task stopped itself, or ``cancel()`` stopped it."""
    return Outcome(
        id=task_id,
        queue=queue,
        status=TaskStatusEnum.CANCEL,
        cancel_reason=reason,
        finished_at=time.time(),
    )


def _collect_sync(definition: TaskDefinition, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    value = definition.func(*args, **kwargs)
    if definition.kind is TaskKind.SYNC_GENERATOR:
        handler = definition.generate_handler
        return [handler(item) if handler else item for item in value]
    return value


async def _collect_async(
    definition: TaskDefinition, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if definition.kind is TaskKind.ASYNC_GENERATOR:
        handler = definition.generate_handler
        items = []
        async for item in definition.func(*args, **kwargs):
            items.append(handler(item) if handler else item)
        return items
    return await definition.func(*args, **kwargs)


class Executor:
    """Calls task functions: async ones on the loop, sync ones on the thread pool."""

    def __init__(self, threads: ThreadRunner, echo_factory: EchoFactory) -> None:
        self._threads = threads
        self._echo_factory = echo_factory
        self._processes = ProcessRunner()

    def stop(self) -> None:
        """End the child processes of ``executor="process"`` tasks."""
        self._processes.stop()

    async def run(
        self,
        definition: TaskDefinition,
        envelope: Envelope,
        delivery: Delivery,
        cancel_requested: CancelCheck,
    ) -> Outcome:
        args = envelope.args
        if definition.echo:
            echo = self._echo_factory(definition, envelope, delivery, cancel_requested)
            args = (echo, *args)
        try:
            value = await self._call(definition, args, envelope.kwargs)
            if definition.decode is not None:
                value = definition.decode(value)
            body = encode_value(value)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the worker is shutting down: release, do not fail
            return self._failure(definition, envelope, delivery, exc)  # the task raised it itself
        except TaskCancelledError as exc:
            return cancel_outcome(envelope.id, envelope.queue, exc.reason)
        except BaseException as exc:
            return self._failure(definition, envelope, delivery, exc)
        return Outcome(
            id=envelope.id,
            queue=envelope.queue,
            status=TaskStatusEnum.SUCCESS,
            result=body,
            finished_at=time.time(),
        )

    async def _call(
        self, definition: TaskDefinition, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        limit = definition.max_time
        if definition.kind.is_async:
            return await _within(limit, definition, _collect_async(definition, args, kwargs))
        if definition.executor == "process":
            value = await _within(
                limit, definition, self._processes.run(definition.func, args, kwargs)
            )
            handler = definition.generate_handler
            if definition.kind is TaskKind.SYNC_GENERATOR and handler is not None:
                value = [handler(item) for item in value]
            return value
        if definition.executor == "loop":
            return _collect_sync(definition, args, kwargs)
        future = self._threads.submit(lambda: _collect_sync(definition, args, kwargs))
        if limit is None:
            value, error = await future
        else:
            try:
                value, error = await asyncio.wait_for(asyncio.shield(future), limit)
            except TimeoutError:
                # Python cannot stop a thread: report on time, free the slot, let it finish alone.
                self._threads.abandon_one()
                raise _timed_out(definition) from None
        if error is not None:
            raise error
        return value

    def _failure(
        self, definition: TaskDefinition, envelope: Envelope, delivery: Delivery, exc: BaseException
    ) -> Outcome:
        now = time.time()
        child = None
        if definition.should_retry(exc, envelope.retries_left):
            child = _retry_child(definition, envelope, delivery, now)
        return Outcome(
            id=envelope.id,
            queue=envelope.queue,
            status=TaskStatusEnum.ERROR if child is None else TaskStatusEnum.RETRY,
            traceback=format_error(exc),
            error_type=exception_path(exc),
            finished_at=now,
            retry=child,
        )


def _retry_child(
    definition: TaskDefinition, envelope: Envelope, delivery: Delivery, now: float
) -> Envelope:
    """The next attempt: the same call, delayed by the backoff, linked to this one."""
    retry_number = definition.retry - envelope.retries_left + 1
    delay = backoff_delay(
        retry_number, base=definition.retry_backoff, maximum=definition.retry_backoff_max
    )
    return Envelope(
        id=new_task_id(),
        task_name=envelope.task_name,
        queue=envelope.queue,
        args=envelope.args,
        kwargs=envelope.kwargs,
        priority=envelope.priority,
        eta=now + delay,
        created_at=now,
        retries_left=envelope.retries_left - 1,
        retry_of=envelope.id,
        headers={
            **envelope.headers,
            PRIOR_WORKERS: json.dumps(all_worker_ids(envelope, delivery)),
            ROOT_ID: root_id(envelope),
        },
    )


async def _within(
    limit: float | None, definition: TaskDefinition, work: Coroutine[Any, Any, Any]
) -> Any:
    """Await ``work``, cancelling it after ``limit`` seconds (reported as a timeout)."""
    if limit is None:
        return await work
    try:
        async with asyncio.timeout(limit) as scope:
            return await work
    except TimeoutError as exc:
        if scope.expired():
            raise _timed_out(definition) from exc
        raise  # the task raised TimeoutError itself


def _timed_out(definition: TaskDefinition) -> TaskTimeoutError:
    return TaskTimeoutError(f"task {definition.name!r} exceeded max_time={definition.max_time}s")
