"""The same Django tasks for every backend (Django 6.x's own ``@task``): ``noop`` and ``io``
for the enqueue and drain phases, ``lat`` and ``lat_io`` for the latency phase.

The io body is one ``INCR`` of ``bench:io`` (``IO_KEY``) on the backend's bench Redis
database (``BENCH_REDIS_URL``), on one redis-py client per process, as
``bench/bench_redis.py``'s io task.
"""

from __future__ import annotations

import os
import time
from typing import Any

from django.tasks import task

IO_KEY = "bench:io"
LAT_KEY = "bench:djlat"
_client: Any = None


def bench_redis() -> Any:
    """The process' client of ``BENCH_REDIS_URL``, made on first use."""
    global _client
    if _client is None:
        import redis

        _client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    return _client


def _record_start(i: int) -> None:
    """First thing in a latency task: RPUSH "i start_time" (``time.time()``)."""
    t = time.time()
    bench_redis().rpush(LAT_KEY, f"{i} {t!r}")


@task  # type: ignore[untyped-decorator,unused-ignore]
def noop(i: int) -> int:
    """The no-op the enqueue and drain phases run."""
    return i


@task  # type: ignore[untyped-decorator,unused-ignore]
def io(i: int) -> int:
    """The io task of the enqueue and drain phases: one INCR of ``bench:io``."""
    bench_redis().incr(IO_KEY)
    return i


@task  # type: ignore[untyped-decorator,unused-ignore]
def lat(i: int) -> int:
    """Latency probe of the no-op kind."""
    _record_start(i)
    return i


@task  # type: ignore[untyped-decorator,unused-ignore]
def lat_io(i: int) -> int:
    """Latency probe of the io kind: the start recorded first, then the io body."""
    _record_start(i)
    bench_redis().incr(IO_KEY)
    return i
