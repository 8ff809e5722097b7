"""The one hook (order 100, inside tracing, metrics and the task log) that fires an app's worker
and task events, in the worker process, where each thing happens.

==================  =====================  ==============================================
hook point          event                  keyword arguments
==================  =====================  ==============================================
``worker_start``    ``worker_running``     ``worker``, ``number`` (always 0: one worker)
``execute``         ``task_running``       ``worker``, ``task_func``, ``task_broker``
``outcome``         ``task_stopping``      the same and ``model``; every run, retried too
``outcome``         ``task_success``,      the same as ``task_stopping``; the final
                    ``task_error``,        outcome only: a run that will be retried fires
                    ``task_cancel``        ``task_stopping`` (``model.status == "retry"``)
``worker_stop``     ``worker_stopping``    ``worker``, ``number``
==================  =====================  ==============================================

``worker`` is the :class:`~qtasks.worker.Worker`; ``task_func`` the task's
:class:`~qtasks.core.definition.TaskDefinition` (QTasks' ``TaskExecSchema``: ``name``,
``func``, ``priority``, ...); ``task_broker`` the run as delivered (QTasks'
``TaskPrioritySchema``: ``uuid``, ``name``, ``priority``, ``args``, ``kwargs``);
``model`` the run's status (``status``, ``returning`` / ``traceback``, ...), as plugins'
``worker_execute_after`` gets it. The outcome events fire before the outcome is stored.

The hook joins a task's chain only while the app has a handler for a task event, so
an app without handlers pays nothing per task.
"""

from __future__ import annotations

from typing import Any

from qtasks.core.definition import TaskDefinition
from qtasks.core.hooks import CallNext, Hook, HookChain, Run
from qtasks.core.records import Outcome
from qtasks.core.status import TaskStatusEnum
from qtasks.events.base import BaseEvents
from qtasks.events.events import TASK_EVENTS
from qtasks.executors.base import TaskBroker
from qtasks.plugins.adapter.models import outcome_model

#: The event a final outcome fires (a retry fires none of them).
_FINAL_EVENTS = {
    TaskStatusEnum.SUCCESS: "task_success",
    TaskStatusEnum.ERROR: "task_error",
    TaskStatusEnum.CANCEL: "task_cancel",
}


class EventsHook(Hook):
    """Fires ``events``' worker and task events from the worker's hook points."""

    order = 100

    def __init__(self, events: BaseEvents, chain: HookChain) -> None:
        self.events = events
        self._chain = chain
        self._task_events = self._listens_to_tasks()
        on = getattr(events, "on", None)
        if on is not None and hasattr(on, "_watch"):
            on._watch(self._registered)

    def _listens_to_tasks(self) -> bool:
        return any(self.events.listens(name) for name in TASK_EVENTS)

    def _registered(self, event_name: str) -> None:
        """A handler was added: the first one for a task event puts the hook in the tasks'
        chains (re-adding it drops the chains the worker built without it)."""
        if event_name in TASK_EVENTS and not self._task_events:
            self._task_events = True
            if any(hook is self for hook in self._chain):
                self._chain.remove(self)
                self._chain.add(self)

    def applies(self, definition: TaskDefinition) -> bool:
        return self._task_events

    async def worker_start(self, worker: Any) -> None:
        if self.events.listens("worker_running"):
            await self.events.emit("worker_running", worker=worker, number=0)

    async def worker_stop(self, worker: Any) -> None:
        if self.events.listens("worker_stopping"):
            await self.events.emit("worker_stopping", worker=worker, number=0)

    def _task_broker(self, run: Run) -> TaskBroker:
        task_broker: TaskBroker | None = run.scratch.get(self)
        if task_broker is None:
            task_broker = run.scratch[self] = TaskBroker.from_envelope(run.envelope)
        return task_broker

    async def execute(self, run: Run, call_next: CallNext) -> Any:
        if self.events.listens("task_running"):
            await self.events.emit(
                "task_running",
                worker=run.worker,
                task_func=run.definition,
                task_broker=self._task_broker(run),
            )
        return await call_next(run)

    async def outcome(self, run: Run, outcome: Outcome, error: BaseException | None) -> Outcome:
        final = _FINAL_EVENTS.get(outcome.status)
        names = [n for n in ("task_stopping", final) if n and self.events.listens(n)]
        if names:
            kwargs = {
                "worker": run.worker,
                "task_func": run.definition,
                "task_broker": self._task_broker(run),
                "model": outcome_model(run.envelope, outcome),
            }
            for name in names:
                await self.events.emit(name, **kwargs)
        return outcome


def install_events(app: Any, events: Any) -> Any:
    """The app's events object (``events``, else a new one of the app's kind), with the
    hook that fires it added to the app's chain."""
    if events is None:
        kind: type[BaseEvents] = getattr(app, "_events_class", None) or _default_class()
        events = kind()
    app.hooks.add(EventsHook(as_events(events), app.hooks))
    return events


def as_events(events: Any) -> BaseEvents:
    """``events`` as the engine fires it: ours as they are; another object (QTasks' duck
    type) through its ``fire`` method, if it has one."""
    return events if isinstance(events, BaseEvents) else _Foreign(events)


class _Foreign(BaseEvents):
    """An events object of another kind: ``fire`` (sync or async) is all we call."""

    def __init__(self, events: Any) -> None:
        super().__init__()
        self._events = events
        self._fire = getattr(events, "fire", None)

    def fire(self, event_name: str, *args: Any, **kwargs: Any) -> Any:
        return None if self._fire is None else self._fire(event_name, *args, **kwargs)

    def listens(self, event_name: str) -> bool:
        return callable(self._fire)


def _default_class() -> type[BaseEvents]:
    from qtasks.events.sync_events import SyncEvents

    return SyncEvents


__all__ = ["EventsHook", "as_events", "install_events"]
