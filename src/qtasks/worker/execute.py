"""Run one decoded message and turn whatever happens into an :class:`Outcome`.

Nothing a task does escapes this module: a return value JSON cannot carry,
``SystemExit``, ``KeyboardInterrupt`` or any other ``BaseException`` becomes an
``error`` outcome with its traceback. Only the worker's own cancellation
(shutdown) propagates, so the message is released rather than failed.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
import traceback
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from qtasks.core.definition import TaskDefinition, TaskKind
from qtasks.core.envelope import Envelope, encode_value
from qtasks.core.errors import (
    ConfigurationError,
    TaskCancelledError,
    TaskTimeoutError,
    exception_path,
)
from qtasks.core.ids import new_task_id
from qtasks.core.records import Delivery, Outcome
from qtasks.core.retry import backoff_delay
from qtasks.core.status import TaskStatusEnum
from qtasks.executors.async_task_executor import AsyncTaskExecutor
from qtasks.executors.base import BaseTaskExecutor, TaskBroker
from qtasks.worker.processes import ProcessRunner
from qtasks.worker.pydantic_args import TaskArgumentsError, bind_models, dump_models
from qtasks.worker.threads import ThreadRunner

log = logging.getLogger("qtasks.worker")

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


def _collect_sync(
    definition: TaskDefinition,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    loop: asyncio.AbstractEventLoop,
) -> Any:
    """Call a sync function on a worker thread (a generator's items collected there too)."""
    value = definition.func(*args, **kwargs)
    if definition.kind is TaskKind.SYNC_GENERATOR:
        return collect_sync_items(definition, value, loop)
    return value


def collect_sync_items(
    definition: TaskDefinition, items: Iterable[Any], loop: asyncio.AbstractEventLoop
) -> list[Any]:
    """A sync generator's items, on a worker thread; an async ``generate_handler`` is run
    on the worker's loop for each item, the generator waiting for it."""
    handler = definition.generate_handler
    if handler is None:
        return list(items)
    return [wait_on_loop(handler(item), loop) for item in items]


def wait_on_loop(value: Any, loop: asyncio.AbstractEventLoop) -> Any:
    """From a worker thread: ``value``, awaited on the worker's loop if it is awaitable."""
    if not inspect.isawaitable(value):
        return value
    return asyncio.run_coroutine_threadsafe(_awaited(value), loop).result()


async def _awaited(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _handled(definition: TaskDefinition, items: Iterable[Any]) -> list[Any]:
    """A sync generator's items on the loop (or a child process' list), each through
    ``generate_handler`` (awaited if async)."""
    handler = definition.generate_handler
    if handler is None:
        return list(items)
    return [await _awaited(handler(item)) for item in items]


async def _collect_async(
    definition: TaskDefinition, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if definition.kind is TaskKind.ASYNC_GENERATOR:
        return await collect_async_items(definition, definition.func(*args, **kwargs))
    return await definition.func(*args, **kwargs)


async def collect_async_items(definition: TaskDefinition, items: Any) -> list[Any]:
    """An async generator's items, each through ``generate_handler`` (awaited if async)."""
    handler = definition.generate_handler
    collected = []
    async for item in items:
        collected.append(await _awaited(handler(item)) if handler else item)
    return collected


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
        try:
            value = await self._execute(definition, envelope, delivery, cancel_requested)
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

    async def _execute(
        self,
        definition: TaskDefinition,
        envelope: Envelope,
        delivery: Delivery,
        cancel_requested: CancelCheck,
    ) -> Any:
        """The one execution path: build the arguments, call, and turn the value into what is
        stored (a task executor class, when the task has one, wraps the call in its hooks)."""
        args, kwargs = bind_models(
            definition.func,
            envelope.args,
            envelope.kwargs,
            skip_first=definition.echo,
            task_name=definition.name,
        )
        echo = None
        if definition.echo:
            echo = self._echo_factory(definition, envelope, delivery, cancel_requested)
            args = (echo, *args)
        executor_class = _task_executor_class(definition)
        if executor_class is not None:
            task_executor = executor_class(
                task_func=definition, task_broker=TaskBroker.from_envelope(envelope), log=log
            )
            engine = _Engine(self, definition, asyncio.get_running_loop())
            task_executor._prepare(list(args), kwargs, echo, engine)
            if inspect.iscoroutinefunction(task_executor.execute):
                return await task_executor.execute()
            return await self._in_thread(definition, task_executor.execute)
        value = dump_models(await self._call(definition, args, kwargs))
        if definition.decode is not None:
            value = await _awaited(definition.decode(value))
        return value

    async def _call(
        self, definition: TaskDefinition, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Call the function where its kind and ``executor`` say, within ``max_time``."""
        limit = definition.max_time
        if definition.kind.is_async:
            return await _within(limit, definition, _collect_async(definition, args, kwargs))
        if definition.executor == "process":
            value = await _within(
                limit, definition, self._processes.run(definition.func, args, kwargs)
            )
            if definition.kind is TaskKind.SYNC_GENERATOR:
                value = await _handled(definition, value)
            return value
        if definition.executor == "loop":
            value = definition.func(*args, **kwargs)
            if definition.kind is TaskKind.SYNC_GENERATOR:
                value = await _handled(definition, value)
            return value
        loop = asyncio.get_running_loop()
        return await self._in_thread(
            definition, lambda: _collect_sync(definition, args, kwargs, loop)
        )

    async def _in_thread(self, definition: TaskDefinition, work: Callable[[], Any]) -> Any:
        """Run ``work`` on the thread pool; past ``max_time`` report a timeout and free the slot."""
        future = self._threads.submit(work)
        limit = definition.max_time
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
        if not isinstance(exc, TaskArgumentsError) and definition.should_retry(
            exc, envelope.retries_left
        ):
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


def _task_executor_class(definition: TaskDefinition) -> type[BaseTaskExecutor] | None:
    """The QTasks task executor a task runs through: its own, or the default one when it
    declares middlewares (they are run by the executor's hooks); ``None`` for neither."""
    executor = definition.executor
    if isinstance(executor, type):
        if not issubclass(executor, BaseTaskExecutor):
            raise ConfigurationError(
                f"executor of task {definition.name!r} must subclass "
                f"qtasks.executors.AsyncTaskExecutor or SyncTaskExecutor, got {executor!r}"
            )
        return executor
    if definition.middlewares_before or definition.middlewares_after:
        return AsyncTaskExecutor
    return None


class _Engine:
    """What one run lends its task executor (:class:`qtasks.executors.base.Engine`)."""

    def __init__(
        self, executor: Executor, definition: TaskDefinition, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._executor = executor
        self._definition = definition
        self._loop = loop

    async def run_function(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        return await self._executor._call(self._definition, tuple(args), kwargs)

    async def collect(self, items: Any) -> list[Any]:
        definition = self._definition
        if inspect.isasyncgen(items):
            return await _within(  # type: ignore[no-any-return]
                definition.max_time, definition, collect_async_items(definition, items)
            )
        return await self._executor._in_thread(  # type: ignore[no-any-return]
            definition, lambda: collect_sync_items(definition, items, self._loop)
        )

    def call(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        return self._definition.func(*args, **kwargs)

    def collect_sync(self, items: Iterable[Any]) -> list[Any]:
        return collect_sync_items(self._definition, items, self._loop)

    def resolve(self, value: Any) -> Any:
        return wait_on_loop(value, self._loop)

    def result_value(self, value: Any) -> Any:
        return dump_models(value)


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
