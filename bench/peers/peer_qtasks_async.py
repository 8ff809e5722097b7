"""qtasks (this repository, its Redis transport): the async app
(``qtasks.asyncio.QueueTasks``), ``async def`` tasks (the io task awaits ``redis.asyncio``),
awaited client calls; default concurrency (10) and prefetch."""

from __future__ import annotations

import os

from _qtasks import meta

META = meta(
    "peer_qtasks_async",
    "qtasks, async app",
    "async app, async def tasks; concurrency 10, prefetch 100, results stored",
)
ASYNC = True

if os.environ.get("BENCH_RUNTIME"):
    from _qtasks import async_peer

    app, enqueue, prefill = async_peer()
