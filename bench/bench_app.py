"""The app the benchmark's worker processes load: ``python -m qtasks -A bench_app:app run``.

The broker URL comes from ``QTASKS_BROKER_URL`` (set per phase by
``bench_sqlite.py``). The benchmark's client side builds its own apps with
:func:`register_tasks`, so client and worker agree on task names and options.
"""

from __future__ import annotations

import qtasks.asyncio
from qtasks import QueueTasks


def noop(i: int) -> int:
    """Sync no-op: runs on the worker's thread pool (the default executor)."""
    return i


async def anoop(i: int) -> int:
    """Async no-op: runs on the worker's event loop."""
    return i


def noop_loop(i: int) -> int:
    """Sync no-op run inline on the worker's event loop (``executor="loop"``)."""
    return i


def register_tasks(app: QueueTasks | qtasks.asyncio.QueueTasks) -> None:
    """Declare the three no-op tasks the benchmark enqueues, on ``app`` (sync or async app)."""
    app.task("noop")(noop)
    app.task("anoop")(anoop)
    app.task("noop_loop", executor="loop")(noop_loop)


app = QueueTasks("bench")
register_tasks(app)
