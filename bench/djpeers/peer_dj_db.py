"""django-tasks-db 0.13.0: ``DatabaseBackend`` on PostgreSQL 15 (database ``bench_dtdb``),
worker ``manage.py db_worker`` with its defaults (one task at a time, 1 s poll when idle)."""

from __future__ import annotations

import os
from typing import Any

META: dict[str, Any] = {
    "label": "django-tasks-db (PostgreSQL)",
    "venv": "dj-db",
    "dist": "django-tasks-db",
    "extra_dists": ["django", "psycopg"],
    "packages": [
        "django==6.1.3",
        "django-tasks-db==0.13.0",
        "psycopg[binary]==3.3.9",
        "redis==8.1.0",
    ],
    "settings": "benchsite.settings_db",
    "redis_db": 8,  # only for the latency probe
    "worker": ["{python}", "manage.py", "db_worker"],
    "tuning": "defaults: one task at a time, polls every 1 s when idle, logs each task at INFO",
    "poll": 0.02,  # a COUNT over the table: poll less often than a ZCARD
    "poll_commands": None,  # not on Redis: no Redis server cost
}

if os.environ.get("BENCH_RUNTIME"):
    from django.db import connection
    from django_tasks_db.models import DBTaskResult

    _TABLE = DBTaskResult._meta.db_table

    def reset() -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {_TABLE}")

    def queued() -> int:
        return int(DBTaskResult.objects.filter(status="READY").count())

    def done_count() -> tuple[int, int]:
        """(succeeded, failed): rows by status, one query."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FILTER (WHERE status = 'SUCCESSFUL'), "
                f"count(*) FILTER (WHERE status = 'FAILED') FROM {_TABLE}"
            )
            ok, failed = cursor.fetchone()
        return int(ok), int(failed)
