"""qtasks (this repository, its Redis transport): sync app, sync ``def`` no-op on the
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
        "peer_qtasks:app",
        "--log-level",
        "WARNING",
        "run",
    ],
    "tuning": "defaults: concurrency 10 (thread pool), prefetch 100, results stored (TTL 1 day)",
    "done": "zcard:qtasks:bench:{bench:default}:fin:success",  # app "bench"
    "timestamps": True,
}

if os.environ.get("BENCH_RUNTIME"):
    from _common import URL, record_start

    from qtasks import QueueTasks

    app = QueueTasks("bench", broker_url=URL)

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
