"""threadmill 0.3.1, the newest release that installs on Python 3.12 (0.4.0 and later
require Python >= 3.14): ``RedisTaskBackend``, ``manage.py threadmill worker --workers 1``:
one worker process (its default on 2 CPUs: cpu_count - 1) with its default 1 thread, plus
the supervising main process."""

from __future__ import annotations

import os
from typing import Any

META: dict[str, Any] = {
    "label": "threadmill",
    "venv": "dj-threadmill",
    "dist": "threadmill",
    "extra_dists": ["django", "redis"],
    "packages": ["django==6.1.3", "threadmill[redis]==0.3.1", "redis==8.1.0", "py-spy==0.4.3"],
    "settings": "benchsite.settings_threadmill",
    "redis_db": 8,
    "worker": ["{python}", "manage.py", "threadmill", "worker", "--workers", "1"],
    "tuning": "1 worker process x 1 thread (its defaults on 2 CPUs), logs each task at INFO",
    "poll": 0.002,
    "poll_commands": {"zcard": 2},  # sent by one done_count(); on Redis: cost measured
}

if os.environ.get("BENCH_RUNTIME"):
    import redis

    _r = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    _P = "threadmill:{default}:"

    def reset() -> None:
        keys = list(_r.scan_iter(match="threadmill:*", count=10_000))
        for start in range(0, len(keys), 10_000):
            _r.delete(*keys[start : start + 10_000])

    def queued() -> int:
        return int(_r.zcard(_P + "queue:default"))

    def done_count() -> tuple[int, int]:
        """(succeeded, failed): the per-status result histories the acknowledge script fills."""
        pipe = _r.pipeline(transaction=False)
        pipe.zcard(_P + "results:default:successful")
        pipe.zcard(_P + "results:default:failed")
        ok, failed = pipe.execute()
        return int(ok), int(failed)
