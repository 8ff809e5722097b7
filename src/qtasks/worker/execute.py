"""Run one decoded message and turn whatever happens into an :class:`Outcome`.

Nothing a task does escapes this module: a return value JSON cannot carry,
``SystemExit``, ``KeyboardInterrupt`` or any other ``BaseException`` becomes an
``error`` outcome with its traceback. Only the worker's own cancellation
(shutdown) propagates, so the message is released rather than failed.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from qtasks.core.definition import TaskDefinition, TaskKind
from qtasks.core.envelope import Envelope, decode_envelope, encode_value
from qtasks.core.errors import (
    ConfigurationError,
    MessageTooDeepError,
    TaskCancelledError,
    exception_path,
    format_error,
)
from qtasks.core.hooks import HookChain, Run
from qtasks.core.records import Delivery, Outcome
from qtasks.core.status import TaskStatusEnum
from qtasks.executors.base import BaseTaskExecutor, TaskBroker
from qtasks.worker.processes import ProcessRunner
from qtasks.worker.pydantic_args import bind_models, dump_models
from qtasks.worker.threads import ThreadRunner

log = logging.getLogger("qtasks.worker")

#: Bodies larger than this are decoded on a thread, so the loop never stalls on one.
_DECODE_INLINE_BYTES = 1 << 20

#: Tells a running task whether ``cancel()`` asked to stop it (read from any thread).
CancelCheck = Callable[[], bool]
#: Builds the object an ``echo=True`` task receives as its first argument.
EchoFactory = Callable[[TaskDefinition, Envelope, Delivery, CancelCheck], Any]


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
    """Calls task functions (async ones on the loop, sync ones on the thread pool) inside
    the app's hook chain, and turns whatever happens into an :class:`Outcome`."""

    def __init__(self, threads: ThreadRunner, echo_factory: EchoFactory, hooks: HookChain) -> None:
        self._threads = threads
        self._echo_factory = echo_factory
        self._hooks = hooks
        self._processes = ProcessRunner()
        #: The worker these runs belong to (what hooks see as ``run.worker``).
        self.worker: Any = None
        #: Runs ``cancel()`` asked to stop, with the reason (the worker's own table).
        self.cancel_reasons: Mapping[str, str] = {}

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
        chain = self._hooks.for_task(definition)
        run = Run(
            definition=definition,
            envelope=envelope,
            delivery=delivery,
            worker=self.worker,
            args=envelope.args,
            kwargs=envelope.kwargs,
        )
        error: BaseException | None = None
        try:
            self._bind(run, cancel_requested)
            if chain.executing:
                value = await chain.execute(run, self._innermost)
            else:  # no hook wraps the call: nothing needs to tell the task's errors apart
                value = await self._execute(run)
            outcome = Outcome(
                id=envelope.id,
                queue=envelope.queue,
                status=TaskStatusEnum.SUCCESS,
                result=encode_value(value),
                finished_at=time.time(),
            )
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is None or not task.cancelling():
                error, outcome = exc, _failure(envelope, exc)  # the task raised it itself
            elif envelope.id in self.cancel_reasons:  # cancel() stopped it: the hooks see it
                task.uncancel()
                reason = self.cancel_reasons[envelope.id]
                outcome = cancel_outcome(envelope.id, envelope.queue, reason)
            else:
                raise  # the worker is shutting down: release, do not fail
        except TaskCancelledError as exc:
            outcome = cancel_outcome(envelope.id, envelope.queue, exc.reason)
        except BaseException as exc:
            error, outcome = exc, _failure(envelope, exc)
        if chain.finishing:
            outcome = await chain.outcome(run, outcome, error)
        return outcome

    def _bind(self, run: Run, cancel_requested: CancelCheck) -> None:
        """The call's arguments: pydantic models built, the echo ``self`` first."""
        definition = run.definition
        args, run.kwargs = bind_models(
            definition.func,
            run.envelope.args,
            run.envelope.kwargs,
            skip_first=definition.echo,
            task_name=definition.name,
        )
        if definition.echo:
            run.echo = self._echo_factory(definition, run.envelope, run.delivery, cancel_requested)
            args = (run.echo, *args)
        run.args = args

    async def _innermost(self, run: Run) -> Any:
        """The task itself, at the centre of the chain: call it and turn its value into what
        is stored (a task executor class, when the task has one, wraps the call in its own
        hooks)."""
        try:
            run.value = await self._execute(run)
        except BaseException as exc:
            run.task_error = exc
            raise
        return run.value

    async def _execute(self, run: Run) -> Any:
        definition = run.definition
        executor_class = _task_executor_class(definition)
        if executor_class is not None:
            task_executor = executor_class(
                task_func=definition, task_broker=TaskBroker.from_envelope(run.envelope), log=log
            )
            engine = _Engine(self, definition, asyncio.get_running_loop())
            task_executor._prepare(list(run.args), run.kwargs, run.echo, engine)
            if inspect.iscoroutinefunction(task_executor.execute):
                return await task_executor.execute()
            return await self._in_thread(task_executor.execute)
        value = dump_models(await self._call(definition, run.args, run.kwargs))
        if definition.decode is not None:
            value = await _awaited(definition.decode(value))
        return value

    async def _call(
        self, definition: TaskDefinition, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Call the function where its kind and ``executor`` say."""
        if definition.kind.is_async:
            return await _collect_async(definition, args, kwargs)
        if definition.executor == "process":
            value = await self._processes.run(definition.func, args, kwargs)
            if definition.kind is TaskKind.SYNC_GENERATOR:
                value = await _handled(definition, value)
            return value
        if definition.executor == "loop":
            value = definition.func(*args, **kwargs)
            if definition.kind is TaskKind.SYNC_GENERATOR:
                value = await _handled(definition, value)
            return value
        loop = asyncio.get_running_loop()
        return await self._in_thread(lambda: _collect_sync(definition, args, kwargs, loop))

    async def _in_thread(self, work: Callable[[], Any]) -> Any:
        """Run ``work`` on the thread pool, in a copy of this run's context (the hooks'
        context variables — a tracing span, say — are the task's too). Cancelled meanwhile
        (a time limit), the thread cannot be stopped: its slot is freed and the job left
        to finish alone."""
        context = contextvars.copy_context()
        future = self._threads.submit(lambda: context.run(work))
        try:
            value, error = await future
        except asyncio.CancelledError:
            self._threads.abandon_one()
            raise
        if error is not None:
            raise error
        return value


def _failure(envelope: Envelope, exc: BaseException) -> Outcome:
    """The ``error`` outcome of a run that raised (the retry hook may turn it into a retry)."""
    return Outcome(
        id=envelope.id,
        queue=envelope.queue,
        status=TaskStatusEnum.ERROR,
        traceback=format_error(exc),
        error_type=exception_path(exc),
        finished_at=time.time(),
    )


def _task_executor_class(definition: TaskDefinition) -> type[BaseTaskExecutor] | None:
    """The QTasks task executor class a task names (its hooks, its own middlewares among
    them, run around the call), else ``None``: a task's middlewares without one are run
    by the ``TaskMiddlewares`` hook (:mod:`qtasks.worker.middlewares`)."""
    executor = definition.executor
    if not isinstance(executor, type):
        return None
    if not issubclass(executor, BaseTaskExecutor):
        raise ConfigurationError(
            f"executor of task {definition.name!r} must subclass "
            f"qtasks.executors.AsyncTaskExecutor or SyncTaskExecutor, got {executor!r}"
        )
    return executor


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
            return await collect_async_items(definition, items)
        return await self._executor._in_thread(  # type: ignore[no-any-return]
            lambda: collect_sync_items(definition, items, self._loop)
        )

    def call(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        return self._definition.func(*args, **kwargs)

    def collect_sync(self, items: Iterable[Any]) -> list[Any]:
        return collect_sync_items(self._definition, items, self._loop)

    def resolve(self, value: Any) -> Any:
        return wait_on_loop(value, self._loop)

    def result_value(self, value: Any) -> Any:
        return dump_models(value)


def decode_here(body: bytes) -> Envelope | None:
    """The envelope in ``body``, decoded on the loop; ``None`` when it is to be decoded on a
    thread instead: a large body (the loop keeps serving the other tasks meanwhile), or one
    nested deeper than this stack goes (a fresh thread's stack goes as deep as any caller
    could have encoded)."""
    if len(body) > _DECODE_INLINE_BYTES:
        return None
    try:
        return decode_envelope(body)
    except MessageTooDeepError:
        return None
