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
}

if os.environ.get("BENCH_RUNTIME"):
    from _common import URL, record_start
    from huey import RedisHuey

    huey = RedisHuey("bench", url=URL)

    @huey.task()
    def noop(i: int) -> int:
        return i

    @huey.task()
    def lat(i: int) -> int:
        record_start(i)
        return i

    def enqueue_noop(i: int) -> None:
        noop(i)

    def enqueue_lat(i: int) -> None:
        lat(i)
