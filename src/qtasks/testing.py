"""Helpers for testing code that uses qtasks: run a real worker in-process.

``drain(app)`` runs every due task now, in the calling thread, and returns
when the queue is empty (Dramatiq's ``join``). ``worker_thread(app)`` keeps a
worker running in a background thread for the duration of a ``with`` block,
so sync code under test can ``add_task(..., timeout=...)`` against it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from qtasks.app import AppCore
from qtasks.worker import Worker


def drain(app: AppCore[Any], *, queues: Sequence[str] | None = None, concurrency: int = 10) -> int:
    """Run tasks until none is due; returns how many outcomes were stored."""
    worker = app.make_worker(queues=queues, concurrency=concurrency, burst=True)
    asyncio.run(worker.run(install_signals=False))
    return worker.processed


@contextmanager
def worker_thread(app: AppCore[Any], **options: Any) -> Iterator[Worker]:
    """A worker running in a daemon thread until the block ends (then stopped gracefully)."""
    worker = app.make_worker(**options)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_until_complete(worker.run(install_signals=False))
        loop.close()

    thread = threading.Thread(target=serve, name="qtasks-test-worker", daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield worker
    finally:
        if not loop.is_closed():
            loop.call_soon_threadsafe(worker.request_stop)
        thread.join(30)
        if thread.is_alive():  # never leave a worker running into the caller's next steps
            raise RuntimeError(f"worker {worker.id} did not stop within 30 s")
