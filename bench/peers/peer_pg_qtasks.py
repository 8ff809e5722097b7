"""qtasks (this repository, its PostgreSQL transport): sync app, sync ``def`` no-op on the
worker's thread pool (the default executor), default concurrency (10) and prefetch."""

from __future__ import annotations

import os

META = {
    "label": "qtasks (this repo)",
    "venv": None,  # the repository's own .venv
    "dist": "qtasks",
    "packages": [],
    "worker": [
        "{python}",
        "-m",
        "qtasks",
        "-A",
        "peer_pg_qtasks:app",
        "--log-level",
        "WARNING",
        "run",
    ],
    "tuning": "defaults: concurrency 10 (thread pool), prefetch, LISTEN/NOTIFY,"
    " results stored (TTL 1 day)",
    "database": "bench_qtasks",
    # tables made by the app's first connection (its migrations)
    "schema": ["{python}", "-m", "qtasks", "-A", "peer_pg_qtasks:app", "migrate"],
    "reset": "TRUNCATE qtasks_tasks",
    # finished tasks, and the span from the first claim to the last stored outcome
    "drain_span": "SELECT count(*), min(started_at), max(finished_at) FROM qtasks_tasks"
    " WHERE status = 'success'",
}

if os.environ.get("BENCH_RUNTIME"):
    from _pgcommon import URL, record_start

    from qtasks import QueueTasks

    # BENCH_PG_QTASKS_QUERY: URL options to try, e.g. options=-c%20synchronous_commit%3Doff
    extra = os.environ.get("BENCH_PG_QTASKS_QUERY")
    app = QueueTasks("bench", broker_url=f"{URL}?{extra}" if extra else URL)

    @app.task("noop")
    def noop(i: int) -> int:
        return i

    @app.task("lat")
    def lat(i: int) -> int:
        record_start(i)
        return i

    def enqueue_noop(i: int) -> None:
        noop.add_task(i)

    def enqueue_lat(i: int) -> None:
        lat.add_task(i)

    def prefill(n: int) -> None:
        for start in range(0, n, 1000):
            noop.add_tasks([(i,) for i in range(start, min(n, start + 1000))])
