"""arq: ``arq peer_arq.WorkerSettings``, defaults (max_jobs 10, results kept 1 day)."""

from __future__ import annotations

import os

META = {
    "label": "arq",
    "venv": "arq",
    "dist": "arq",
    "extra_dists": ["redis"],
    "packages": ["arq>=0.26"],
    "worker": ["{bin}/arq", "peer_arq.WorkerSettings"],
    "tuning": "defaults: max_jobs 10 (asyncio), results kept",
    "done": "zleft:arq:queue",  # a job stays in the queue ZSET until it has finished
}
ASYNC = True

if os.environ.get("BENCH_RUNTIME"):
    from _common import URL, record_start
    from arq import create_pool
    from arq.connections import RedisSettings

    SETTINGS = RedisSettings.from_dsn(URL)

    async def noop(ctx, i: int) -> int:
        return i

    async def lat(ctx, i: int) -> int:
        record_start(i)
        return i

    class WorkerSettings:
        functions = [noop, lat]
        redis_settings = SETTINGS

    pool = None

    async def setup() -> None:
        global pool
        pool = await create_pool(SETTINGS)

    async def teardown() -> None:
        await pool.aclose()

    async def enqueue_noop(i: int) -> None:
        await pool.enqueue_job("noop", i)

    async def enqueue_lat(i: int) -> None:
        await pool.enqueue_job("lat", i)
