"""The worker side of the Django backend: run a Django task function inside a qtasks worker.

A message enqueued by ``QTasksBackend`` names the task by its module path and
carries the backend alias in a header. The backend adds a resolver to its app,
so that app's workers turn such a message into a task definition whose
function imports the Django ``Task``, sends ``task_started``, calls it (with a
``TaskContext`` when it ``takes_context``), normalizes the return value as
Django does, and sends ``task_finished`` on success and failure alike.
Retries, the time limit, leases and result storage are the engine's.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.utils.module_loading import import_string

from qtasks.contrib.django import compat
from qtasks.contrib.django.options import BackendOptions
from qtasks.core.definition import TaskDefinition, kind_of
from qtasks.core.envelope import Envelope
from qtasks.core.errors import TaskTimeoutError, exception_path
from qtasks.worker.execute import format_error
from qtasks.worker.retries import root_id

#: Header naming the Django backend alias a message was enqueued through.
BACKEND_HEADER = "django.backend"


def as_datetime(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def import_task(module_path: str) -> Any:
    """The Django ``Task`` object at ``module_path`` (a module-level ``@task``)."""
    task = import_string(module_path)
    if not hasattr(task, "func") or not hasattr(task, "takes_context"):
        raise TypeError(f"{module_path!r} is not a Django Task")
    return task


class DjangoTaskRunner:
    """Resolver for one backend alias: builds (and caches) definitions of Django tasks."""

    def __init__(self, backend_class: type, alias: str, options: BackendOptions) -> None:
        self.backend_class = backend_class
        self.alias = alias
        self.options = options
        self._retry_on: tuple[type[BaseException], ...] | None = None
        self._definitions: dict[str, TaskDefinition] = {}

    def resolve(self, envelope: Envelope) -> TaskDefinition | None:
        if envelope.headers.get(BACKEND_HEADER) != self.alias:
            return None
        definition = self._definitions.get(envelope.task_name)
        if definition is None:
            definition = self._definitions[envelope.task_name] = self._build(envelope.task_name)
        return definition

    def _retry_classes(self) -> tuple[type[BaseException], ...] | None:
        if self._retry_on is None and self.options.retry_on:
            self._retry_on = tuple(import_string(path) for path in self.options.retry_on)
        return self._retry_on

    def _build(self, module_path: str) -> TaskDefinition:
        task = import_task(module_path)
        run = (
            self._async_runner(task)
            if inspect.iscoroutinefunction(task.func)
            else (self._sync_runner(task))
        )
        options = self.options
        return TaskDefinition(
            name=module_path,
            func=run,
            kind=kind_of(run),
            queue=task.queue_name,
            priority=task.priority,
            echo=True,
            max_time=options.max_time,
            retry=options.retry,
            retry_on_exc=self._retry_classes(),
            retry_backoff=options.retry_backoff,
            retry_backoff_max=options.retry_backoff_max,
            description=f"Django task {module_path}",
        )

    def _running_result(
        self, task: Any, echo: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        envelope: Envelope = echo.ctx.envelope
        now = datetime.now(UTC)
        if (
            task.priority != envelope.priority
            or task.queue_name != envelope.queue
            or task.backend != self.alias
        ):
            task = task.using(
                priority=envelope.priority, queue_name=envelope.queue, backend=self.alias
            )
        return compat.TaskResult(
            task=task,
            id=root_id(envelope),
            status=compat.TaskResultStatus.RUNNING,
            enqueued_at=as_datetime(envelope.created_at),
            started_at=now,
            last_attempted_at=now,
            finished_at=None,
            args=list(args),
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=list(echo.ctx.worker_ids),
        )

    def _call_args(self, task: Any, result: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return (compat.TaskContext(task_result=result), *args) if task.takes_context else args

    def _finished(self, result: Any, exc: BaseException | None, value: Any = None) -> None:
        object.__setattr__(result, "finished_at", datetime.now(UTC))
        if exc is None:
            object.__setattr__(result, "status", compat.TaskResultStatus.SUCCESSFUL)
            object.__setattr__(result, "_return_value", value)
        else:
            object.__setattr__(result, "status", compat.TaskResultStatus.FAILED)
            result.errors.append(
                compat.TaskError(
                    exception_class_path=exception_path(exc), traceback=format_error(exc)
                )
            )

    def _sync_runner(self, task: Any) -> Callable[..., Any]:
        sender = self.backend_class

        limit = self.options.max_time

        def run_django_task(echo: Any, *args: Any, **kwargs: Any) -> Any:
            result = self._running_result(task, echo, args, kwargs)
            compat.task_started.send(sender=sender, task_result=result)
            close_old_connections()  # as a request would: no stale connection from last time
            started = time.monotonic()
            try:
                value = compat.normalize_json(
                    task.func(*self._call_args(task, result, args), **kwargs)
                )
                if limit is not None and time.monotonic() - started > limit:
                    # the engine already stored this run as timed out: the signal says the same
                    raise TaskTimeoutError(f"task {task.module_path!r} exceeded max_time={limit}s")
            except BaseException as exc:
                self._finished(result, exc)
                compat.task_finished.send(sender=sender, task_result=result)  # inside except
                raise
            finally:
                close_old_connections()
            self._finished(result, None, value)
            compat.task_finished.send(sender=sender, task_result=result)
            return value

        return run_django_task

    def _async_runner(self, task: Any) -> Callable[..., Any]:
        sender = self.backend_class
        started = sync_to_async(compat.task_started.send)  # receivers may use the ORM
        finished = sync_to_async(compat.task_finished.send)

        async def run_django_task(echo: Any, *args: Any, **kwargs: Any) -> Any:
            result = self._running_result(task, echo, args, kwargs)
            await started(sender=sender, task_result=result)
            try:
                value = compat.normalize_json(
                    await task.func(*self._call_args(task, result, args), **kwargs)
                )
            except BaseException as exc:
                self._finished(result, exc)
                await finished(sender=sender, task_result=result)
                raise
            self._finished(result, None, value)
            await finished(sender=sender, task_result=result)
            return value

        return run_django_task
