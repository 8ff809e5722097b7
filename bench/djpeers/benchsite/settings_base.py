"""What every backend's settings share: production-like defaults, the same task application.

``DEBUG`` is off and logging is Django's default. Django's own database is an in-memory
SQLite one for the Redis backends (``enqueue`` may look at its transaction state but never
queries it); ``settings_db`` replaces it with PostgreSQL. ``BENCH_REDIS_URL`` is the Redis
database of the backend being measured (set by ``bench/bench_django_peers.py``).
"""

from __future__ import annotations

import os

SECRET_KEY = "qtasks-bench-django-peers"
DEBUG = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES: dict[str, dict[str, object]] = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
}
INSTALLED_APPS: list[str] = ["benchtasks"]
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
