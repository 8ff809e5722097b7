"""procrastinate 3.10: ``procrastinate worker``, one process, concurrency 10, LISTEN/NOTIFY
(its default), sync ``def`` no-op; the client defers with ``defer_async`` (async API)."""

from __future__ import annotations

import os

META = {
    "label": "procrastinate",
    "venv": "procrastinate",
    "dist": "procrastinate",
    "extra_dists": ["psycopg"],
    "packages": ["procrastinate==3.10.0"],
    "worker": [
        "{bin}/procrastinate",
        "--app=peer_pg_procrastinate.app",
        "worker",
        "--concurrency=10",
    ],
    "tuning": "concurrency 10 (its default is 1), LISTEN/NOTIFY on, jobs kept",
    "database": "bench_procrastinate",
    "schema": ["{bin}/procrastinate", "--app=peer_pg_procrastinate.app", "schema", "--apply"],
    "reset": "TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers"
    " CASCADE",
    # finished jobs, and the span from the first 'started' event to the last 'succeeded'
    "drain_span": "SELECT count(*) FILTER (WHERE type = 'succeeded'),"
    " extract(epoch FROM min(at) FILTER (WHERE type = 'started')),"
    " extract(epoch FROM max(at) FILTER (WHERE type = 'succeeded')) FROM procrastinate_events",
}
ASYNC = True

if os.environ.get("BENCH_RUNTIME"):
    import procrastinate
    from _pgcommon import URL, record_start

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=URL))

    @app.task(name="noop")
    def noop(i: int) -> int:
        return i

    @app.task(name="lat")
    def lat(i: int) -> int:
        record_start(i)
        return i

    _opened = None

    async def setup() -> None:
        global _opened
        _opened = app.open_async()
        await _opened.__aenter__()

    async def teardown() -> None:
        await _opened.__aexit__(None, None, None)

    async def enqueue_noop(i: int) -> None:
        await noop.defer_async(i=i)

    async def enqueue_lat(i: int) -> None:
        await lat.defer_async(i=i)

    async def prefill(n: int) -> None:
        for start in range(0, n, 1000):
            await noop.batch_defer_async(*({"i": i} for i in range(start, min(n, start + 1000))))
