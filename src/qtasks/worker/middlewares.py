"""QTasks task middlewares, as one hook of the chain (order 600).

A task middleware is a class built with the run's task executor and then called:
``middleware(task_executor)()`` (a coroutine's result is awaited). It may change
``task_executor._args`` / ``_kwargs`` (before the call) or ``_result`` (after it), or
return another task executor, which the following middlewares (and the call) get.

Who runs what, so that no middleware runs twice:

- app-level middlewares (``app.add_middleware(cls, position=..., **kwargs)``): this
  hook, around every task, built as ``cls(task_executor, **kwargs)``;
- a task's own ``middlewares_before`` / ``middlewares_after``: this hook too, unless
  the task names its own executor class (``@app.task(executor=MyExecutor)``), whose
  ``execute_middlewares_before/after`` run them instead.

Order, an onion: app-level "before" ones, the task's "before" ones, the call, the
task's "after" ones, app-level "after" ones; each list in the order given.

The task executor a middleware (or a plugin) is handed is a
:class:`~qtasks.executors.AsyncTaskExecutor` describing the run (``task_func``,
``task_broker``, ``_args`` with the echo ``self`` first, ``_kwargs``, ``_result``,
``echo``, ``log``), one per run, shared by the hooks around it.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from qtasks.core.definition import TaskDefinition
from qtasks.core.hooks import CallNext, Hook, Run
from qtasks.executors.async_task_executor import AsyncTaskExecutor
from qtasks.executors.base import BaseTaskExecutor, TaskBroker

log = logging.getLogger("qtasks.worker")

#: ``run.scratch`` key of the run's task executor view.
_VIEW = object()

#: An app-level middleware: its class and the keyword arguments it is built with.
MiddlewareSpec = tuple[type[Any], dict[str, Any]]


def task_executor_of(run: Run) -> BaseTaskExecutor:
    """The run's task executor view, its ``_args`` / ``_kwargs`` / ``echo`` as ``run``
    holds them now (made on first use, then shared by every hook of the run)."""
    view: BaseTaskExecutor | None = run.scratch.get(_VIEW)
    if view is None:
        view = AsyncTaskExecutor(
            task_func=run.definition, task_broker=TaskBroker.from_envelope(run.envelope), log=log
        )
        run.scratch[_VIEW] = view
    view._args, view._kwargs, view.echo = list(run.args), run.kwargs, run.echo
    return view


def adopt(run: Run, view: BaseTaskExecutor) -> None:
    """Make ``view`` the run's task executor and take its arguments as the call's."""
    run.scratch[_VIEW] = view
    run.args, run.kwargs = tuple(view._args), dict(view._kwargs)


def has_own_executor(definition: TaskDefinition) -> bool:
    """True when the task names a QTasks task executor class (it runs its own middlewares)."""
    return isinstance(definition.executor, type)


class TaskMiddlewares(Hook):
    """Runs app-level and task-level QTasks middlewares around the call."""

    order = 600

    def __init__(self) -> None:
        self.before: list[MiddlewareSpec] = []
        self.after: list[MiddlewareSpec] = []

    def applies(self, definition: TaskDefinition) -> bool:
        if self.before or self.after:
            return True
        own = definition.middlewares_before or definition.middlewares_after
        return bool(own) and not has_own_executor(definition)

    def _lists(self, definition: TaskDefinition) -> tuple[list[MiddlewareSpec], ...]:
        if has_own_executor(definition):
            return self.before, self.after
        return (
            [*self.before, *((m, {}) for m in definition.middlewares_before)],
            [*((m, {}) for m in definition.middlewares_after), *self.after],
        )

    async def execute(self, run: Run, call_next: CallNext) -> Any:
        before, after = self._lists(run.definition)
        if before:
            adopt(run, await _run_all(before, task_executor_of(run)))
        value = await call_next(run)
        if not after:
            return value
        view = task_executor_of(run)
        view._result = value
        view = await _run_all(after, view)
        run.scratch[_VIEW] = view
        return view._result


async def _run_all(middlewares: list[MiddlewareSpec], view: BaseTaskExecutor) -> BaseTaskExecutor:
    for cls, kwargs in middlewares:
        middleware = cls(view, **kwargs)
        returned = middleware()
        if inspect.isawaitable(returned):
            returned = await returned
        if isinstance(returned, BaseTaskExecutor):
            view = returned
        log.debug("middleware %s ran for %s", cls.__name__, view.task_func.name)
    return view
