"""Task ids: time-ordered UUIDs (version 7, RFC 9562).

Ordered ids keep a transport's id index append-only (new rows land on the
last page instead of a random one) and break FIFO ties among tasks enqueued
in the same instant by one process. Within a process ids only increase: the
12-bit ``rand_a`` field counts up inside one millisecond. The random part
comes from ``random`` (reseeded after ``fork``), not ``os.urandom``: ids must be
unique, not secret, and a system call per id is measurable on the enqueue path.
"""

from __future__ import annotations

import random
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_COUNTER_MAX = 0xFFF


def new_task_id() -> str:
    """A fresh UUIDv7 string, greater than every id this process made before."""
    global _last_ms, _counter
    ms = time.time_ns() // 1_000_000
    with _lock:
        if ms > _last_ms:
            _last_ms, _counter = ms, random.getrandbits(8)
        else:
            _counter += 1
            if _counter > _COUNTER_MAX:  # 4,096 ids in one millisecond: borrow the next one
                _last_ms, _counter = _last_ms + 1, 0
        ms, counter = _last_ms, _counter
    rand_b = random.getrandbits(62)
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand_b
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def task_uuid(task_id: str) -> uuid.UUID:
    """The ``uuid.UUID`` users see for a task id string."""
    return uuid.UUID(task_id)
