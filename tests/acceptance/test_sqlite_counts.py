"""SQLite producers count their enqueues in memory and a thread writes them: another
process sees them within about a second, whether the producer is sync or async, goes on
enqueueing or sits idle, and at once when it exits."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

PRODUCER = """
import asyncio, sys, time
from qtasks import QueueTasks
from qtasks.asyncio import QueueTasks as AsyncQueueTasks

path, kind, idle = sys.argv[1], sys.argv[2], float(sys.argv[3])
if kind == "sync":
    app = QueueTasks(name="counted", broker_url=f"sqlite:///{path}")
    @app.task
    def noop(i): pass
    for i in range(3):
        noop.add_task(i)
    noop.add_tasks([(i,) for i in range(4)])
    print("sent", flush=True)
    time.sleep(idle)  # idle: no call on the app's loop
else:
    app = AsyncQueueTasks(name="counted", broker_url=f"sqlite:///{path}")
    @app.task
    async def noop(i): pass
    async def main():
        for i in range(3):
            await noop.add_task(i)
        await noop.add_tasks([(i,) for i in range(4)])
        print("sent", flush=True)
        time.sleep(idle)  # blocks the loop too: the thread writes anyway
    asyncio.run(main())
"""


def enqueued(path: Path) -> int:
    with sqlite3.connect(path) as db:
        row = db.execute(
            "SELECT coalesce(sum(enqueued), 0) FROM qtasks_minute WHERE app = 'counted'"
        ).fetchone()
    return int(row[0])


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_idle_producers_counts_arrive_within_seconds(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "counts.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PRODUCER), str(path), kind, "30"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "sent"
        sent = time.monotonic()
        while enqueued(path) < 7 and time.monotonic() - sent < 5:
            time.sleep(0.05)
        assert enqueued(path) == 7
        assert proc.poll() is None, "the producer was still running, idle"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_counts_are_written_when_the_producer_exits(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "counts.sqlite3"
    subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PRODUCER), str(path), kind, "0"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert enqueued(path) == 7
