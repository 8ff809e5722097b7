"""QTasks 1.7.3 from PyPI (the original project): its default sync app (SyncRedisBroker,
SyncWorker), ``python -m qtasks -A peer_qtasks173:app run``, defaults."""

from __future__ import annotations

import os

META = {
    "label": "QTasks 1.7.3 (PyPI)",
    "venv": "qtasks173",
    "dist": "qtasks",
    "extra_dists": ["redis"],
    "packages": ["qtasks==1.7.3", "redis"],
    "worker": ["{python}", "-m", "qtasks", "-A", "peer_qtasks173:app", "run"],
    "tuning": "defaults (sync app, SyncWorker)",
    # DEQUEUED, not finished: 1.7.3 keeps no cheap count of finished tasks
    "done": "lleft:QueueTasks:task_queue",
    "done_note": "tasks taken off the queue list (no cheap finished count in 1.7.3)",
}

if os.environ.get("BENCH_RUNTIME"):
    from _common import URL, record_start

    from qtasks import QueueTasks

    app = QueueTasks(broker_url=URL)

    @app.task(name="noop")
    def noop(i: int) -> int:
        return i

    @app.task(name="lat")
    def lat(i: int) -> int:
        record_start(i)
        return i

    def enqueue_noop(i: int) -> None:
        app.add_task("noop", i)

    def enqueue_lat(i: int) -> None:
        app.add_task("lat", i)
