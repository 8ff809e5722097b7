"""The worker side of the Django backend: run a Django task function inside a qtasks worker.

A message enqueued by ``QTasksBackend`` names the task by its module path and
carries the backend alias in a header. The backend adds a resolver to its app,
so that app's workers turn such a message into a task definition whose
function imports the Django ``Task``, calls it (with a ``TaskContext`` when it
``takes_context``) and normalizes the return value as Django does. Django's
``task_started`` / ``task_finished`` signals are sent by the
:class:`~qtasks.contrib.django.signals.DjangoSignals` hook around it; retries,
the time limit, leases and result storage are the engine's.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections
from django.utils.module_loading import import_string

from qtasks.contrib.django import compat
from qtasks.contrib.django.options import BackendOptions
from qtasks.contrib.django.signals import DJANGO_TASK, DjangoRun, DjangoTaskSpec, as_datetime
from qtasks.core.definition import TaskDefinition, kind_of
from qtasks.core.envelope import Envelope
from qtasks.core.errors import TaskNotFoundError

#: Header naming the Django backend alias a message was enqueued through.
BACKEND_HEADER = "django.backend"


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
            self._check_allowed(envelope.task_name)  # before anything is imported
            definition = self._definitions[envelope.task_name] = self._build(envelope.task_name)
        return definition

    def _check_allowed(self, task_path: str) -> None:
        """A message names the module its task lives in, and importing a module runs its
        top-level code: only modules of ``INSTALLED_APPS`` (or ``OPTIONS["task_modules"]``)
        are imported; any other name fails the task before anything is imported."""
        from django.apps import apps

        module = task_path.rpartition(".")[0]
        allowed = [config.name for config in apps.get_app_configs()]
        allowed += self.options.task_modules
        if not any(module == root or module.startswith(f"{root}.") for root in allowed):
            raise TaskNotFoundError(
                f"Django task {task_path!r} is not in an installed application: its module "
                "was not imported (list further packages in OPTIONS['task_modules'])"
            )

    def _retry_classes(self) -> tuple[type[BaseException], ...] | None:
        if self._retry_on is None and self.options.retry_on:
            self._retry_on = tuple(import_string(path) for path in self.options.retry_on)
        return self._retry_on

    def _build(self, module_path: str) -> TaskDefinition:
        task = import_task(module_path)
        is_async = inspect.iscoroutinefunction(task.func)
        run = _async_runner(task) if is_async else _sync_runner(task)
        options = self.options
        return TaskDefinition(
            name=module_path,
            func=run,
            kind=kind_of(run),
            queue=task.queue_name,
            priority=task.priority,
            max_time=options.max_time,
            retry=options.retry,
            retry_on_exc=self._retry_classes(),
            retry_backoff=options.retry_backoff,
            retry_backoff_max=options.retry_backoff_max,
            description=f"Django task {module_path}",
            extra={
                DJANGO_TASK: DjangoTaskSpec(
                    task, self.backend_class, self.alias, on_thread=not is_async
                )
            },
        )


def _call_args(task: Any, result: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return (compat.TaskContext(task_result=result), *args) if task.takes_context else args


def _sync_runner(task: Any) -> Callable[..., Any]:
    """Runs on a worker thread; ``state`` is the :class:`DjangoRun` the signals hook passes
    first (when it says so, this thread sends the run's two signals)."""
    func = task.func

    def run_django_task(state: DjangoRun, *args: Any, **kwargs: Any) -> Any:
        close_old_connections()  # as a request would: no stale connection from last time
        try:
            if not state.on_thread:
                return compat.as_json(func(*_call_args(task, state.result, args), **kwargs))
            state.started()
            try:
                value = compat.as_json(func(*_call_args(task, state.result, args), **kwargs))
            except BaseException as exc:
                state.finished(exc)
                raise
            state.finished(None, value)
            return value
        finally:
            close_old_connections()

    return run_django_task


def _async_runner(task: Any) -> Callable[..., Any]:
    async def run_django_task(state: DjangoRun, *args: Any, **kwargs: Any) -> Any:
        return compat.as_json(await task.func(*_call_args(task, state.result, args), **kwargs))

    return run_django_task


__all__ = ["BACKEND_HEADER", "DjangoTaskRunner", "as_datetime", "import_task"]
