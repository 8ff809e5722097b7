"""Shared by the peer modules (stdlib + redis-py, which every peer venv has)."""

from __future__ import annotations

import os
import time

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")
LAT_KEY = "bench:lat"
_client = None


def record_start(i: int) -> None:
    """Called first thing in the latency task: RPUSH "i start_time" (time.time())."""
    global _client
    t = time.time()
    if _client is None:
        import redis

        _client = redis.Redis.from_url(URL)
    _client.rpush(LAT_KEY, f"{i} {t!r}")
