"""threadmill's ``RedisTaskBackend`` (its README's set-up); worker:
``manage.py threadmill worker --workers 1`` (one worker process, its default 1 thread)."""

from __future__ import annotations

from benchsite.settings_base import *  # noqa: F403
from benchsite.settings_base import INSTALLED_APPS, REDIS_URL

INSTALLED_APPS = ["threadmill", *INSTALLED_APPS]
TASKS = {
    "default": {
        "BACKEND": "threadmill.backends.redis.RedisTaskBackend",
        "QUEUES": ["default"],
        "REDIS_URL": REDIS_URL,
    }
}
