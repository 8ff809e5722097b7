"""The same two Django tasks for every backend (Django 6.x's own ``@task``)."""

from __future__ import annotations

import os
import time
from typing import Any

from django.tasks import task

_probe: Any = None


@task  # type: ignore[untyped-decorator,unused-ignore]
def noop(i: int) -> int:
    """The no-op the enqueue and drain phases run."""
    return i


@task  # type: ignore[untyped-decorator,unused-ignore]
def lat(i: int) -> int:
    """Latency probe: first thing, RPUSH "i start_time" (``time.time()``) to ``bench:djlat``."""
    global _probe
    t = time.time()
    if _probe is None:
        import redis

        _probe = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    _probe.rpush("bench:djlat", f"{i} {t!r}")
    return i
