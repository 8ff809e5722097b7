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
}

if os.environ.get("BENCH_RUNTIME"):
    import dramatiq
    from _common import URL, record_start
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.results import Results
    from dramatiq.results.backends import RedisBackend

    broker = RedisBroker(url=URL)
    broker.add_middleware(Results(backend=RedisBackend(url=URL)))
    dramatiq.set_broker(broker)

    @dramatiq.actor(store_results=True)
    def noop(i: int) -> int:
        return i

    @dramatiq.actor(store_results=True)
    def lat(i: int) -> int:
        record_start(i)
        return i

    def enqueue_noop(i: int) -> None:
        noop.send(i)

    def enqueue_lat(i: int) -> None:
        lat.send(i)
