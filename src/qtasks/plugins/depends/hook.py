"""The hook that fills ``Depends`` and ``State`` parameters (order 700, on every app's chain).

It joins only the tasks whose signature has such a parameter (worked out once per task
definition, :mod:`qtasks.plugins.depends.plan`); for the others it costs nothing. For a
run it builds the task-lived dependencies (and, on first use, the worker-lived ones),
calls the rest of the chain with them added to the call, and tears the task-lived ones
down when the run ends, however it ends: success, the task's exception, a time-out or a
worker shutdown. Worker-lived ones are torn down in ``worker_stop``.

Failures. An exception raised by a dependency (building it, or tearing it down after a
run that went well) fails that run with *that* exception, as if the task had raised it:
``retry_on_exc`` sees it, and no ``HookError`` hides it. After a failed run, a teardown
error is logged and the run keeps its own error. A task whose dependencies cannot be
resolved at all (a cycle, a scope mismatch) fails each run with
:class:`~qtasks.plugins.depends.DependsError`. The worker always goes on.

Threads. A sync task on the thread pool gets its sync, task-lived dependencies built and
torn down in its own thread, around the call (a ``sqlite3`` connection made there works
there). Async dependencies, worker-lived ones and those of async tasks are built on the
event loop; so are the sync dependencies of async tasks (a slow one blocks the loop:
write it ``async``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import weakref
from collections.abc import Generator
from contextlib import AsyncExitStack, ExitStack
from typing import Any

from qtasks.core.definition import TaskDefinition, TaskKind
from qtasks.core.hooks import CallNext, Hook, Run
from qtasks.plugins.depends.plan import Plan, plan_for
from qtasks.plugins.depends.resolve import (
    Values,
    WorkerScope,
    call_arguments,
    enter_in_thread,
    enter_on_loop,
    exit_stack,
    exit_sync_stack,
)
from qtasks.plugins.states.registry import StateRegistry

#: ``run.scratch`` key: this run's parameters are filled (a second such hook leaves them).
_FILLED = object()


class DependsHook(Hook):
    """Fills ``Depends(...)`` and ``State`` parameters; one per app (``app.hooks``)."""

    order = 700

    def __init__(self, name: str | None = None, *, accept_annotated: bool = True) -> None:
        """
        :param name: QTasks' plugin name (kept, unused).
        :param accept_annotated: ``Annotated[MyState, ...]`` is a State parameter too.
        """
        self.name = name or type(self).__name__
        self.accept_annotated = accept_annotated
        #: The values of every ``State`` class, for this app in this process.
        self.registry = StateRegistry()
        self._plans: dict[int, tuple[TaskDefinition, Plan | None]] = {}
        self._scopes: weakref.WeakKeyDictionary[Any, WorkerScope] = weakref.WeakKeyDictionary()

    def plan(self, definition: TaskDefinition) -> Plan | None:
        """What ``definition``'s signature asks for (``None``: nothing); cached."""
        cached = self._plans.get(id(definition))
        if cached is not None and cached[0] is definition:
            return cached[1]
        plan = plan_for(definition, accept_annotated=self.accept_annotated)
        self._plans[id(definition)] = (definition, plan)
        return plan

    def applies(self, definition: TaskDefinition) -> bool:
        return self.plan(definition) is not None

    async def execute(self, run: Run, call_next: CallNext) -> Any:
        plan = self.plan(run.definition)
        if plan is None or _FILLED in run.scratch:
            return await call_next(run)
        if plan.error is not None:
            raise plan.error
        run.scratch[_FILLED] = True
        definition = run.definition
        values: Values = {}
        stack = AsyncExitStack()
        error: BaseException | None = None
        calling = False
        try:
            if plan.worker_nodes:
                scope = self._scopes.get(run.worker)
                if scope is None:
                    scope = self._scopes[run.worker] = WorkerScope()
                await scope.fill(plan.worker_nodes, values, self.registry)
            for node in plan.loop_nodes:
                values[node] = await enter_on_loop(stack, node, values, self.registry)
            if plan.thread_nodes:
                run.definition = self._threaded(definition, plan, values)
            else:
                run.args, run.kwargs = call_arguments(
                    plan, run.args, run.kwargs, values, self.registry
                )
            calling = True
            return await call_next(run)
        except BaseException as exc:
            error = exc
            if not calling:
                _own(run, exc)  # a dependency failed to build: the run fails with its error
            raise
        finally:
            run.definition = definition
            try:
                await exit_stack(stack, error)
            except BaseException as exc:  # a teardown failing after a run that went well
                _own(run, exc)
                raise

    def _threaded(self, definition: TaskDefinition, plan: Plan, values: Values) -> TaskDefinition:
        """``definition`` calling its function through a wrapper that builds the thread's
        dependencies first and tears them down after, on the thread that runs it."""
        func, registry = definition.func, self.registry
        loop = asyncio.get_running_loop()

        def prepare(stack: ExitStack, args: Any, kwargs: Any) -> tuple[Any, dict[str, Any]]:
            for node in plan.thread_nodes:
                values[node] = enter_in_thread(stack, node, values, registry, loop)
            return call_arguments(plan, args, kwargs, values, registry)

        def call(*args: Any, **kwargs: Any) -> Any:
            stack, error = ExitStack(), None
            try:
                call_args, call_kwargs = prepare(stack, args, kwargs)
                return func(*call_args, **call_kwargs)
            except BaseException as exc:
                error = exc
                raise
            finally:
                exit_sync_stack(stack, error)

        def generate(*args: Any, **kwargs: Any) -> Generator[Any, Any, None]:
            stack, error = ExitStack(), None
            try:
                call_args, call_kwargs = prepare(stack, args, kwargs)
                yield from func(*call_args, **call_kwargs)
            except BaseException as exc:
                error = exc
                raise
            finally:
                exit_sync_stack(stack, error)

        wrapper = generate if definition.kind is TaskKind.SYNC_GENERATOR else call
        return dataclasses.replace(definition, func=wrapper)

    async def worker_stop(self, worker: Any) -> None:
        scope = self._scopes.pop(worker, None)
        if scope is not None:
            await scope.close()


def _own(run: Run, exc: BaseException) -> None:
    """Treat ``exc``, raised by a dependency, as the task's own error (not a ``HookError``)."""
    if isinstance(exc, Exception):
        run.task_error = exc
