"""One import site for Django's Tasks framework: ``django.tasks`` (Django >= 6.0) or the
``django_tasks`` backport (Django 5.2), whose module paths and exception names differ."""

from __future__ import annotations

import dataclasses
from typing import Any

try:  # Django 6.x
    from django.tasks import TaskContext, TaskResult, TaskResultStatus
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import TaskError
    from django.tasks.exceptions import InvalidTask as InvalidTaskError
    from django.tasks.exceptions import TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json

    TASKS_MODULE = "django.tasks"
except ImportError:  # Django 5.2 with the django-tasks backport
    from django_tasks import TaskContext, TaskResult, TaskResultStatus
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import TaskError
    from django_tasks.exceptions import InvalidTaskError, TaskResultDoesNotExist
    from django_tasks.signals import (
        task_enqueued,
        task_finished,
        task_started,
    )
    from django_tasks.utils import normalize_json

    TASKS_MODULE = "django_tasks"


#: The values Django's ``normalize_json`` returns as they are (exact types: subclasses such
#: as an ``IntEnum`` take Django's own path).
_SCALARS = frozenset({str, int, float, bool, type(None)})


def as_json(value: Any) -> Any:
    """Django's ``normalize_json(value)``, without its walk for a plain JSON scalar."""
    return value if type(value) in _SCALARS else normalize_json(value)


def json_args(args: Any, kwargs: Any) -> tuple[list[Any], dict[str, Any]]:
    """``normalize_json`` of a call's arguments (a non-JSON value raises ``TypeError``),
    without its walk when every argument is a plain JSON scalar."""
    if all(type(a) in _SCALARS for a in args) and all(
        type(k) is str and type(v) in _SCALARS for k, v in kwargs.items()
    ):
        return list(args), dict(kwargs)
    return normalize_json(args), normalize_json(kwargs)


_RESULT_FIELDS = (
    "task",
    "id",
    "status",
    "enqueued_at",
    "started_at",
    "finished_at",
    "last_attempted_at",
    "args",
    "kwargs",
    "backend",
    "errors",
    "worker_ids",
    "_return_value",
)
#: Whether ``TaskResult`` has exactly the fields :func:`new_result` sets (else it calls
#: the constructor, and pays for its ``normalize_json`` pass again).
_RESULT_FIELDS_KNOWN = {f.name for f in dataclasses.fields(TaskResult)} == set(_RESULT_FIELDS)
_set = object.__setattr__


def new_result(
    task: Any,
    id: str,
    status: Any,
    enqueued_at: Any,
    started_at: Any,
    last_attempted_at: Any,
    finished_at: Any,
    args: list[Any],
    kwargs: dict[str, Any],
    backend: str,
    errors: list[Any],
    worker_ids: list[str],
) -> Any:
    """A ``TaskResult`` of arguments that are already JSON-normal (what ``json_args``
    returns, or a decoded message's): the fields are set without the constructor's second
    ``normalize_json`` pass."""
    fields = {
        "task": task,
        "id": id,
        "status": status,
        "enqueued_at": enqueued_at,
        "started_at": started_at,
        "last_attempted_at": last_attempted_at,
        "finished_at": finished_at,
        "args": args,
        "kwargs": kwargs,
        "backend": backend,
        "errors": errors,
        "worker_ids": worker_ids,
    }
    if not _RESULT_FIELDS_KNOWN:
        return TaskResult(**fields)
    result = TaskResult.__new__(TaskResult)
    for name, value in fields.items():
        _set(result, name, value)
    _set(result, "_return_value", None)
    return result


def task_backends() -> Any:
    """Django's handler of configured backends (``TASKS`` setting)."""
    if TASKS_MODULE == "django.tasks":
        from django.tasks import task_backends as handler
    else:
        from django_tasks import task_backends as handler
    return handler


__all__ = [
    "TASKS_MODULE",
    "BaseTaskBackend",
    "InvalidTaskError",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultStatus",
    "as_json",
    "json_args",
    "new_result",
    "normalize_json",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]
