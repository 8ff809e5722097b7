"""Shared by the peer modules (stdlib + redis-py, which every peer venv has).

The "io" task's body, the same for every library: one ``INCR`` of ``bench:io`` in the
peer's own database, on a client made once per process (``incr_io`` for sync tasks,
``aincr_io`` with ``redis.asyncio`` for async ones).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")
LAT_KEY = "bench:lat"
IO_KEY = "bench:io"
#: the task kinds every phase runs for, and the latency task of each kind
KINDS = ("noop", "io")
LATENCY_TASK = {"noop": "lat", "io": "lat_io"}
_client: Any = None
_aclient: Any = None


def _sync_client() -> Any:
    global _client
    if _client is None:
        import redis

        _client = redis.Redis.from_url(URL)
    return _client


def record_start(i: int) -> None:
    """Called first thing in the latency task: RPUSH "i start_time" (time.time())."""
    t = time.time()
    _sync_client().rpush(LAT_KEY, f"{i} {t!r}")


def incr_io() -> None:
    """The io task's body for sync tasks."""
    _sync_client().incr(IO_KEY)


async def aincr_io() -> None:
    """The io task's body for async tasks (one ``redis.asyncio`` client per process)."""
    global _aclient
    if _aclient is None:
        import redis.asyncio

        _aclient = redis.asyncio.Redis.from_url(URL)
    await _aclient.incr(IO_KEY)


# the bench's tasks, as plain functions every peer registers under these names ------------


def noop(i: int) -> int:
    return i


def io(i: int) -> int:
    incr_io()
    return i


def lat(i: int) -> int:
    record_start(i)
    return i


def lat_io(i: int) -> int:
    record_start(i)
    incr_io()
    return i


async def anoop(i: int) -> int:
    return i


async def aio(i: int) -> int:
    await aincr_io()
    return i


async def alat(i: int) -> int:
    record_start(i)
    return i


async def alat_io(i: int) -> int:
    record_start(i)
    await aincr_io()
    return i


#: task name -> sync body (for sync libraries) / async body (for async ones)
SYNC_TASKS: dict[str, Callable[[int], int]] = {"noop": noop, "io": io, "lat": lat, "lat_io": lat_io}
ASYNC_TASKS: dict[str, Callable[[int], Awaitable[int]]] = {
    "noop": anoop,
    "io": aio,
    "lat": alat,
    "lat_io": alat_io,
}
