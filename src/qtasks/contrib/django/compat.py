"""One import site for Django's Tasks framework: ``django.tasks`` (Django >= 6.0) or the
``django_tasks`` backport (Django 5.2), whose module paths and exception names differ."""

from __future__ import annotations

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
    "normalize_json",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]
