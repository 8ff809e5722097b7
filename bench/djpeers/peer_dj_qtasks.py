"""qtasks (this repository): ``QTasksBackend`` on Redis, ``manage.py qtasks_worker`` with its
defaults (concurrency 10: the sync no-op runs on a pool of 10 threads, prefetch 100)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

META: dict[str, Any] = {
    "label": "qtasks (this repo)",
    "venv": "dj-qtasks",
    "dist": "qtasks",
    "extra_dists": ["django", "redis", "hiredis"],
    "packages": ["-e", f"{REPO}[django]", "django==6.1.3", "py-spy==0.4.3"],
    "settings": "benchsite.settings_qtasks",
    "redis_db": 9,
    "worker": ["{python}", "manage.py", "qtasks_worker"],
    "tuning": "defaults: concurrency 10 (thread pool), prefetch 100, results stored 1 day",
    "poll": 0.002,
    "poll_commands": {"zcard": 2},  # sent by one done_count(); on Redis: cost measured
}

if os.environ.get("BENCH_RUNTIME"):
    import redis

    _r = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    _STEM = "qtasks:django%3Adefault:{django%3Adefault:default}:"  # app "django:default"

    def reset() -> None:
        keys = list(_r.scan_iter(match="qtasks:*", count=10_000))
        for start in range(0, len(keys), 10_000):
            _r.delete(*keys[start : start + 10_000])

    def queued() -> int:
        """Tasks waiting in the ready set."""
        return int(_r.zcard(_STEM + "ready"))

    def done_count() -> tuple[int, int]:
        """(succeeded, failed): the per-status sets of finished tasks."""
        pipe = _r.pipeline(transaction=False)
        pipe.zcard(_STEM + "fin:success")
        pipe.zcard(_STEM + "fin:error")
        ok, failed = pipe.execute()
        return int(ok), int(failed)
