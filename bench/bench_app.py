"""The app the benchmark's worker processes load: ``python -m qtasks -A bench_app:app run``.

The broker URL comes from ``QTASKS_BROKER_URL`` (set per phase by
``bench_sqlite.py``). The benchmark's client side builds its own apps with
:func:`register_tasks`, so client and worker agree on task names and options.
"""

from __future__ import annotations

from typing import Any

from qtasks import QueueTasks


def register_tasks(app: Any) -> None:
    """Declare the three no-op tasks the benchmark enqueues, on ``app`` (sync or async app)."""

    @app.task("noop")
    def noop(i: int) -> int:
        """Sync no-op: runs on the worker's thread pool (the default executor)."""
        return i

    @app.task("anoop")
    async def anoop(i: int) -> int:
        """Async no-op: runs on the worker's event loop."""
        return i

    @app.task("noop_loop", executor="loop")
    def noop_loop(i: int) -> int:
        """Sync no-op run inline on the worker's event loop (``executor="loop"``)."""
        return i


app = QueueTasks("bench")
register_tasks(app)
