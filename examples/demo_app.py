"""The demo's app: no URL, so tasks go through the embedded SQLite file ./qtasks.sqlite3."""

from __future__ import annotations

import asyncio
import hashlib
import random

from qtasks import QueueTasks

app = QueueTasks(name="demo")


class Flaky(Exception):
    """A failure worth retrying."""


@app.task
def checksum(text: str) -> str:
    """A sync task: runs on the worker's thread pool."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@app.task(name="reports:render", priority=5)
async def render_report(day: int) -> dict[str, int]:
    """An async task with a ':' in its name and a higher priority: it runs first."""
    await asyncio.sleep(0.001)
    return {"day": day, "rows": day * 7}


@app.task(retry=2, retry_on_exc=[Flaky], retry_backoff=0.05)
def sometimes_fails(n: int) -> int:
    """Fails now and then; retried with backoff."""
    if random.random() < 0.3:
        raise Flaky(f"transient failure on {n}")
    return n
