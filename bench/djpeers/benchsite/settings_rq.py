"""django-tasks-rq's ``RQBackend`` through django-rq; worker:
``manage.py rqworker --job-class django_tasks_rq.Job default`` (its README)."""

from __future__ import annotations

from benchsite.settings_base import *  # noqa: F403
from benchsite.settings_base import INSTALLED_APPS, REDIS_URL

INSTALLED_APPS = ["django_rq", "django_tasks_rq", *INSTALLED_APPS]
RQ_QUEUES = {"default": {"URL": REDIS_URL}}
TASKS = {
    "default": {
        "BACKEND": "django_tasks_rq.RQBackend",
        "QUEUES": ["default"],
    }
}
