"""RQ: default ``Worker`` (forks a work horse per job), results kept (default TTL 500 s)."""

from __future__ import annotations

import os

META = {
    "label": "RQ",
    "venv": "rq",
    "dist": "rq",
    "extra_dists": ["redis"],
    "packages": ["rq>=2"],
    "worker": ["{bin}/rq", "worker", "--url", "{url}", "--quiet", "default"],
    "tuning": "defaults: one job at a time, forked work horse per job",
    "done": "zcard:rq:finished:default",
}

if os.environ.get("BENCH_RUNTIME"):
    from _common import URL
    from redis import Redis
    from rq import Queue

    queue = Queue("default", connection=Redis.from_url(URL))

    def enqueue_noop(i: int) -> None:
        queue.enqueue(noop, i)

    def enqueue_lat(i: int) -> None:
        queue.enqueue(lat, i)

    def prefill(n: int) -> None:
        for start in range(0, n, 1000):
            queue.enqueue_many(
                [Queue.prepare_data(noop, (i,)) for i in range(start, min(n, start + 1000))]
            )


def noop(i: int) -> int:
    return i


def lat(i: int) -> int:
    from _common import record_start

    record_start(i)
    return i
