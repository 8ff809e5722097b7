"""The app of the multi-process schedule and unique-task tests (``qtasks -A schedapp:app
timer``): one every-second schedule; the transport from ``QTASKS_BROKER_URL``."""

from __future__ import annotations

import os
import sys
import time

from qtasks import QueueTasks

app = QueueTasks(name="schedapp")


@app.task(schedule={"cron": "* * * * * *", "catch_up": "all"})
def every_second() -> None:
    return None


@app.task
def job(n: int) -> int:
    return n


def produce(start_at: float) -> None:
    """One racing producer (``python -c``): wait for the common start time, then enqueue
    the same unique call, and print what came back."""
    time.sleep(max(0.0, start_at - time.time()))
    record = job.add_task(1, unique_key="race:1")
    assert record is not None
    print(record.uuid, record.deduplicated, os.getpid(), flush=True)
    app.close()


if __name__ == "__main__":
    produce(float(sys.argv[1]))
