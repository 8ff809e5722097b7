"""Django tasks on a schedule: each ``OPTIONS["schedule"]`` entry as a qtasks
:class:`~qtasks.schedule.Schedule` of the backend's app, whose runs are the messages the
backend makes for ``.enqueue()`` (module path, JSON arguments, the alias' header), so a
worker of the alias runs them and ``get_result`` reads them like any other.

They are made when the backend's app is: a task that does not import, a queue not in
``QUEUES`` or arguments JSON cannot carry fail ``manage.py check`` (``qtasks.E002``), not
the first tick. ``qtasks_worker --schedule`` fires them (once per tick however many
workers do: docs/schedules.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from qtasks.contrib.django import compat
from qtasks.contrib.django.execution import import_task
from qtasks.core.envelope import Envelope
from qtasks.core.errors import ConfigurationError
from qtasks.schedule.spec import Schedule, make_schedule

if TYPE_CHECKING:
    from qtasks.contrib.django.backend import QTasksBackend


def make_schedules(backend: QTasksBackend) -> list[Schedule]:
    """The schedules of ``backend``'s OPTIONS, each run made by the backend (imports the
    tasks: call it outside locks)."""
    schedules = []
    for option in backend.qtasks_options.schedule:
        where = f"OPTIONS['schedule'][{option.name!r}]"
        try:
            task = import_task(option.task)
        except Exception as exc:  # ImportError, AttributeError, not a Task, its own errors
            raise ConfigurationError(
                f"{where}: task {option.task!r} does not import: {type(exc).__name__}: {exc}"
            ) from exc
        build = _builder(backend, task)
        schedule = make_schedule(
            option.task, name=option.name, build=build, **dict(option.keywords)
        )
        try:  # Django's checks of the task (its queue among QUEUES) and of its arguments
            build(schedule, 0.0)
        except (compat.InvalidTaskError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"{where}: {exc}") from exc
        schedules.append(schedule)
    return schedules


def _builder(backend: QTasksBackend, task: Any) -> Any:
    def build(schedule: Schedule, eta: float) -> Envelope:
        """The message of one run, due at ``eta`` (the scheduler adds the schedule's key)."""
        _, envelope = backend._prepare(task, schedule.args, schedule.kwargs)
        return msgspec.structs.replace(envelope, eta=eta)

    return build


__all__ = ["make_schedules"]
