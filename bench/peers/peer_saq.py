"""SAQ: Redis queue, ``saq peer_saq.settings``, default concurrency 10."""

from __future__ import annotations

import os

META = {
    "label": "SAQ",
    "venv": "saq",
    "dist": "saq",
    "extra_dists": ["redis"],
    "packages": ["saq[hiredis]", "typing_extensions"],  # saq 0.26.4 imports it without declaring it
    "worker": ["{bin}/saq", "peer_saq.settings", "--workers", "1"],
    "tuning": "defaults: concurrency 10 (asyncio), job records kept (SAQ default TTL)",
    "done": "zleft:saq:default:incomplete",
}
ASYNC = True

if os.environ.get("BENCH_RUNTIME"):
    from _common import URL, record_start
    from saq import Queue

    queue = Queue.from_url(URL)

    async def noop(ctx, *, i: int) -> int:
        return i

    async def lat(ctx, *, i: int) -> int:
        record_start(i)
        return i

    settings = {"queue": queue, "functions": [noop, lat]}

    async def setup() -> None:
        await queue.connect()

    async def teardown() -> None:
        await queue.disconnect()

    async def enqueue_noop(i: int) -> None:
        await queue.enqueue("noop", i=i)

    async def enqueue_lat(i: int) -> None:
        await queue.enqueue("lat", i=i)
