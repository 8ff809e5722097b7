"""The app of ``bench/chaos.py``: one task that logs each run (task number, worker pid)."""

from __future__ import annotations

import os
import random
import time

from qtasks import QueueTasks

app = QueueTasks("chaos")
_log_fd: int | None = None


def _log(line: str) -> None:
    """One ``write`` on an O_APPEND file per run: a run is logged whole or not at all."""
    global _log_fd
    if _log_fd is None:
        path = os.path.join(os.environ["CHAOS_LOG_DIR"], f"runs-{os.getpid()}.log")
        _log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(_log_fd, line.encode())


@app.task
def chaos_work(i: int) -> int:
    _log(f"{i} {os.getpid()}\n")
    time.sleep(random.random() * 0.002)  # so that tasks are in flight when a worker dies
    return i
