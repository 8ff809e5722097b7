"""streaq: Redis streams, ``streaq run peer_streaq:worker``, default concurrency 16."""

from __future__ import annotations

import os

META = {
    "label": "streaq",
    "venv": "streaq",
    "dist": "streaq",
    "extra_dists": ["coredis"],
    "packages": ["streaq", "redis"],  # redis-py only for the bench's latency probe (record_start)
    "worker": ["{bin}/streaq", "run", "peer_streaq:worker"],
    "tuning": "defaults: concurrency 16 (anyio/asyncio), results kept",
    "done": "zcard:streaq:default:index:results",  # one entry per stored result
}
ASYNC = True

if os.environ.get("BENCH_RUNTIME"):
    from _common import URL, record_start
    from streaq import Worker

    worker = Worker(redis_url=URL)

    @worker.task()
    async def noop(i: int) -> int:
        return i

    @worker.task()
    async def lat(i: int) -> int:
        record_start(i)
        return i

    async def setup() -> None:
        await worker.__aenter__()  # the client side of a streaq Worker is its async context

    async def teardown() -> None:
        await worker.__aexit__(None, None, None)

    async def enqueue_noop(i: int) -> None:
        await noop.enqueue(i)

    async def enqueue_lat(i: int) -> None:
        await lat.enqueue(i)
