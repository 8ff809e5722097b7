"""Shared by the PostgreSQL peer modules (stdlib only): the database URL and the
latency probe, which appends to a file so that it adds no load to the database."""

from __future__ import annotations

import os
import time

URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/bench_qtasks")
LAT_FILE = os.environ.get("BENCH_LAT_FILE", "/tmp/bench-pg-lat.txt")


def record_start(i: int) -> None:
    """Called first thing in the latency task: one O_APPEND write of "i start_time"."""
    t = time.time()
    fd = os.open(LAT_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{i} {t!r}\n".encode())
    finally:
        os.close(fd)
