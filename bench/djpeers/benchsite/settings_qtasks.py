"""qtasks' ``QTasksBackend`` on Redis; worker: ``manage.py qtasks_worker`` (defaults)."""

from __future__ import annotations

from benchsite.settings_base import *  # noqa: F403
from benchsite.settings_base import INSTALLED_APPS, REDIS_URL

INSTALLED_APPS = ["qtasks.contrib.django", *INSTALLED_APPS]
TASKS = {
    "default": {
        "BACKEND": "qtasks.contrib.django.backend.QTasksBackend",
        "QUEUES": ["default"],
        "OPTIONS": {"broker_url": REDIS_URL},
    }
}
