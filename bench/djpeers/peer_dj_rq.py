"""django-tasks-rq 0.12.0 (with django-rq and RQ): ``RQBackend``, worker
``manage.py rqworker --job-class django_tasks_rq.Job default`` as its README says; RQ's
default ``Worker`` forks a work horse per job."""

from __future__ import annotations

import os
from typing import Any

META: dict[str, Any] = {
    "label": "django-tasks-rq",
    "venv": "dj-rq",
    "dist": "django-tasks-rq",
    "extra_dists": ["django-rq", "rq", "django-tasks", "django", "redis"],
    "packages": [
        "django==6.1.3",
        "django-tasks-rq==0.12.0",
        "django-tasks==0.12.0",
        "django-rq==4.2.0",
        "rq==3.0.0",
        "redis==8.1.0",
    ],
    "settings": "benchsite.settings_rq",
    "redis_db": 8,
    "worker": [
        "{python}",
        "manage.py",
        "rqworker",
        "--job-class",
        "django_tasks_rq.Job",
        "default",
    ],
    "tuning": "defaults: one job at a time, a forked work horse per job",
    "poll": 0.002,
    "poll_commands": {"zcard": 2},  # sent by one done_count(); on Redis: cost measured
}

if os.environ.get("BENCH_RUNTIME"):
    import redis

    _r = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])

    def reset() -> None:
        keys = list(_r.scan_iter(match="rq:*", count=10_000))
        for start in range(0, len(keys), 10_000):
            _r.delete(*keys[start : start + 10_000])

    def queued() -> int:
        return int(_r.llen("rq:queue:default"))

    def done_count() -> tuple[int, int]:
        """(succeeded, failed): RQ's finished and failed job registries of the queue."""
        pipe = _r.pipeline(transaction=False)
        pipe.zcard("rq:finished:default")
        pipe.zcard("rq:failed:default")
        ok, failed = pipe.execute()
        return int(ok), int(failed)
