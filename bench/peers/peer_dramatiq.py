"""Dramatiq 2.x: RedisBroker + Results middleware (Redis backend, store_results=True).

Tuning: ``--processes 1`` (default: one process per CPU); threads = default 8.
"""

from __future__ import annotations

import os

META = {
    "label": "Dramatiq",
    "venv": "dramatiq",
    "dist": "dramatiq",
    "extra_dists": ["redis"],
    "packages": ["dramatiq[redis]>=2"],
    "worker": ["{bin}/dramatiq", "peer_dramatiq", "--processes", "1"],
    "tuning": "--processes 1 (default: one per CPU), default 8 threads; results stored in Redis",
    # a message stays in this HASH until acked, which happens after the task
    "done": "hleft:dramatiq:default.msgs",
    "kinds": ("noop", "io"),
}

if os.environ.get("BENCH_RUNTIME"):
    import dramatiq
    from _common import SYNC_TASKS, URL
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.results import Results
    from dramatiq.results.backends import RedisBackend

    broker = RedisBroker(url=URL)
    broker.add_middleware(Results(backend=RedisBackend(url=URL)))
    dramatiq.set_broker(broker)
    TASKS = {
        name: dramatiq.actor(f, actor_name=name, store_results=True)
        for name, f in SYNC_TASKS.items()
    }

    def enqueue(task: str, i: int) -> None:
        TASKS[task].send(i)
