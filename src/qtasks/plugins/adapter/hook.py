"""QTasks' plugin triggers, fired from one hook of the chain (order 500).

Where each trigger fires, and what a returned dict replaces, is the table of
``docs/extending/plugins.md``. The ``task_executor_*`` triggers fire here, around the
call, for every task: a task with its own executor class (``executor=MyExecutor``)
does not fire them again (one place, whatever the executor's methods do).

Our broker is also QTasks' storage and global config: ``broker=``, ``storage=`` and
``global_config=`` are the worker's (or, at enqueue, the client's) broker, and
``storage_start`` / ``global_config_start`` (and their stops) fire with the worker's
start and stop.
"""

from __future__ import annotations

import logging
from typing import Any

from qtasks.core.errors import TaskPluginTriggerError
from qtasks.core.hooks import CallNext, EnqueueCall, Hook, Run
from qtasks.core.records import Outcome
from qtasks.core.status import TaskStatusEnum
from qtasks.plugins.adapter.models import args_info, outcome_model, process_model
from qtasks.plugins.adapter.registry import PluginRegistry, maybe_await
from qtasks.worker.middlewares import adopt, task_executor_of

log = logging.getLogger("qtasks.plugins")


class PluginHook(Hook):
    """Fires an app's QTasks plugin triggers at the chain's hook points."""

    order = 500

    def __init__(self, app: Any) -> None:
        self.app = app
        self.registry = PluginRegistry()

    async def _fire(self, trigger: str, /, **kwargs: Any) -> dict[str, Any]:
        if not self.registry.listens(trigger):
            return {}
        return await self.registry.fire(trigger, **kwargs)

    # caller's process ------------------------------------------------------------------

    async def _broker(self) -> Any:
        return await self.app._client.broker()

    async def before_enqueue(self, call: EnqueueCall) -> None:
        trigger = "qtasks_add_task_before_broker"
        if not self.registry.listens(trigger):
            return
        priority = call.priority
        if priority is None:
            definition = self.app.definition(call.task_name)
            priority = definition.priority if definition is not None else 0
        new = await self.registry.fire(
            trigger,
            qtasks=self.app,
            broker=await self._broker(),
            task_name=call.task_name,
            priority=priority,
            args=call.args,
            kw=call.kwargs,
        )
        call.task_name = new.get("task_name", call.task_name)
        call.priority = new.get("priority", call.priority)
        call.args = tuple(new.get("args", call.args))
        call.kwargs = dict(new.get("kw", call.kwargs))
        call.extra = new.get("extra", call.extra)

    async def after_enqueue(self, call: EnqueueCall, envelope: Any) -> None:
        trigger = "qtasks_add_task_after_broker"
        if self.registry.listens(trigger):
            await self.registry.fire(
                trigger,
                qtasks=self.app,
                broker=await self._broker(),
                task_name=envelope.task_name,
                priority=envelope.priority,
                args=envelope.args,
                kwargs=envelope.kwargs,
            )

    async def on_get(self, app: Any, record: Any) -> Any:
        if not self.registry.listens("qtasks_get"):
            return record
        new = await self.registry.fire(
            "qtasks_get", qtasks=app, broker=await self._broker(), task=record
        )
        return new.get("task", record)

    # worker ----------------------------------------------------------------------------

    async def worker_start(self, worker: Any) -> None:
        for plugin in self.registry.plugins():
            await maybe_await(plugin.start())
        broker = worker.broker
        await self._fire("worker_start", worker=worker)
        await self._fire("broker_start", broker=broker, worker=worker)
        await self._fire("storage_start", storage=broker)
        await self._fire("global_config_start", global_config=broker)

    async def worker_stop(self, worker: Any) -> None:
        broker = worker.broker
        steps: list[tuple[str, dict[str, Any]]] = [
            ("qtasks_stop", {"qtasks": self.app, "starter": getattr(self.app, "starter", None)}),
            ("worker_stop", {"worker": worker}),
            ("broker_stop", {"broker": broker}),
            ("storage_stop", {"storage": broker}),
            ("global_config_stop", {"global_config": broker}),
        ]
        for trigger, kwargs in steps:
            try:
                await self._fire(trigger, **kwargs)
            except Exception:
                log.exception(
                    "plugin trigger %s failed while worker %s stopped", trigger, worker.id
                )
        for plugin in self.registry.plugins():
            try:
                await maybe_await(plugin.stop())
            except Exception:
                log.exception("plugin %r failed to stop", plugin)

    async def execute(self, run: Run, call_next: CallNext) -> Any:
        definition = run.definition
        view = task_executor_of(run)
        task_broker = view.task_broker
        if self.registry.listens("worker_execute_before"):
            await self.registry.fire(
                "worker_execute_before",
                worker=run.worker,
                task_broker=task_broker,
                task_func=definition,
                model=process_model(run.envelope),
            )
        if self.registry.listens("task_executor_args_replace"):
            new = await self.registry.fire(
                "task_executor_args_replace",
                task_executor=view,
                args=list(run.args),
                kw=dict(run.kwargs),
                args_info=args_info(definition.func),
            )
            view._args = list(new.get("args", view._args))
            view._kwargs = dict(new.get("kw", view._kwargs))
            adopt(run, view)
        await self._fire("task_executor_before_execute", task_executor=task_executor_of(run))
        try:
            value = await call_next(run)
        except TaskPluginTriggerError as exc:
            value = await self._trigger_error(run, exc)
        else:
            value = await self._replaced(run, value)
        view = task_executor_of(run)
        view._result = value
        await self._fire("task_executor_after_execute", task_executor=view)
        for trigger in ("task_executor_after_execute_result_replace", "task_executor_decode"):
            new = await self._fire(trigger, task_executor=view, result=view._result)
            view._result = new.get("result", view._result)
        await self._fire(
            "task_executor_task_close",
            task_executor=view,
            task_func=definition,
            task_broker=task_broker,
        )
        return view._result

    async def _replaced(self, run: Run, value: Any) -> Any:
        """``task_executor_run_task`` (``task_executor_run_task_gen`` for a generator)."""
        view = task_executor_of(run)
        view._result = value
        if run.definition.generating:
            new = await self._fire("task_executor_run_task_gen", task_executor=view, results=value)
            return new.get("results", value)
        new = await self._fire("task_executor_run_task", task_executor=view, result=value)
        return new.get("result", value)

    async def _trigger_error(self, run: Run, exc: TaskPluginTriggerError) -> Any:
        """A plugin's value for the task's ``TaskPluginTriggerError``, else the error."""
        trigger = "task_executor_run_task_trigger_error"
        new: dict[str, Any] = {}
        if self.registry.listens(trigger):
            view = task_executor_of(run)
            new = await self.registry.fire(
                trigger,
                "result",
                task_executor=view,
                task_func=run.definition,
                task_broker=view.task_broker,
                e=exc,
            )
        if "result" not in new:
            raise exc
        run.task_error = None  # handled: the run succeeds with the plugin's value
        return new["result"]

    async def outcome(self, run: Run, outcome: Outcome, error: BaseException | None) -> Outcome:
        task_broker = task_executor_of(run).task_broker
        if outcome.status is TaskStatusEnum.RETRY:
            await self._fire(
                "worker_task_error_retry",
                broker=run.worker.broker if run.worker is not None else None,
                task_func=run.definition,
                task_broker=task_broker,
                trace=outcome.traceback,
            )
        if self.registry.listens("worker_execute_after"):
            await self.registry.fire(
                "worker_execute_after",
                task_func=run.definition,
                task_broker=task_broker,
                model=outcome_model(run.envelope, outcome),
            )
        return outcome
