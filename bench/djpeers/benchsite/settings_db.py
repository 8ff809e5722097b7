"""django-tasks-db's ``DatabaseBackend`` on PostgreSQL (``BENCH_PG_DB``, default ``bench_dtdb``
on 127.0.0.1:5432, user postgres); worker: ``manage.py db_worker`` (defaults)."""

from __future__ import annotations

import os

from benchsite.settings_base import *  # noqa: F403
from benchsite.settings_base import INSTALLED_APPS

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("BENCH_PG_DB", "bench_dtdb"),
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": "5432",
    }
}
INSTALLED_APPS = ["django_tasks_db", *INSTALLED_APPS]
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}
