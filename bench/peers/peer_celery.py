"""Celery 5.x: Redis broker + Redis result backend.

Tuning: ``--pool threads --concurrency 10`` — one worker process (the default prefork
pool would fork one child per CPU); other settings are Celery's defaults (prefetch
multiplier 4, results stored, late ack off). ``--without-gossip --without-mingle
--without-heartbeat`` only skip cluster chatter at start-up.
"""

from __future__ import annotations

import os

META = {
    "label": "Celery",
    "venv": "celery",
    "dist": "celery",
    "extra_dists": ["kombu", "redis"],
    "packages": ["celery[redis]>=5,<6"],
    "worker": [
        "{bin}/celery",
        "-A",
        "peer_celery:app",
        "worker",
        "--pool",
        "threads",
        "--concurrency",
        "10",
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ],
    "tuning": "pool threads, concurrency 10 (default: prefork, one process per CPU); "
    "results in Redis",
    "done": "dbsize",  # one celery-task-meta-<id> key per finished task
}

if os.environ.get("BENCH_RUNTIME"):
    from _common import URL, record_start
    from celery import Celery

    app = Celery("bench", broker=URL, backend=URL)

    @app.task(name="noop")
    def noop(i: int) -> int:
        return i

    @app.task(name="lat")
    def lat(i: int) -> int:
        record_start(i)
        return i

    def enqueue_noop(i: int) -> None:
        noop.delay(i)

    def enqueue_lat(i: int) -> None:
        lat.delay(i)
