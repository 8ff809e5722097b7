"""Settings of the benchmark's Django project: one ``QTasksBackend``, defaults elsewhere.

The broker URL comes from ``QTASKS_BROKER_URL``, set per phase by
``bench/bench_django.py`` for its worker processes (the benchmark process itself
points the backend at each phase's fresh file with ``override_settings``).
``DEBUG`` is off and logging is Django's default, as in production; the
backend's ``OPTIONS`` are its defaults (``enqueue_on_commit`` on, no retries).
Django's own database is an in-memory SQLite one: ``enqueue`` looks at its
transaction state but never queries it.
"""

from __future__ import annotations

import os

SECRET_KEY = "qtasks-bench-django"
DEBUG = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

INSTALLED_APPS: list[str] = []
try:
    import django.tasks  # noqa: F401  (Django 6.x)
except ImportError:  # Django 5.2: the backport is installed as an application
    INSTALLED_APPS.append("django_tasks")
INSTALLED_APPS += ["qtasks.contrib.django", "djproject.benchapp"]


def tasks_setting(broker_url: str) -> dict[str, dict[str, object]]:
    """The ``TASKS`` setting for a broker URL (the benchmark overrides it per phase)."""
    return {
        "default": {
            "BACKEND": "qtasks.contrib.django.backend.QTasksBackend",
            "QUEUES": ["default"],
            "OPTIONS": {"broker_url": broker_url},
        }
    }


TASKS = tasks_setting(os.environ.get("QTASKS_BROKER_URL", "sqlite:///qtasks-bench.sqlite3"))
