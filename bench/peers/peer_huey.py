"""Huey: RedisHuey (results stored, the default), consumer with its default 1 worker thread."""

from __future__ import annotations

import os

META = {
    "label": "Huey",
    "venv": "huey",
    "dist": "huey",
    "extra_dists": ["redis"],
    "packages": ["huey>=2.5", "redis"],
    "worker": ["{bin}/huey_consumer", "peer_huey.huey", "--quiet"],
    "tuning": "defaults: 1 worker thread; results stored",
    "done": "hlen:huey.results.bench",
    "kinds": ("noop", "io"),
}

if os.environ.get("BENCH_RUNTIME"):
    from _common import SYNC_TASKS, URL
    from huey import RedisHuey

    huey = RedisHuey("bench", url=URL)
    TASKS = {name: huey.task(name=name)(f) for name, f in SYNC_TASKS.items()}

    def enqueue(task: str, i: int) -> None:
        TASKS[task](i)
