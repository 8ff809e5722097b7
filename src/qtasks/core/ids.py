"""Task ids: time-ordered UUIDs (version 7, RFC 9562).

Ordered ids keep a transport's id index append-only (new rows land on the
last page instead of a random one) and break FIFO ties among tasks enqueued
in the same instant by one process. Within a process ids increase: the
12-bit ``rand_a`` field counts up inside one millisecond. The random part
comes from ``random`` (reseeded after ``fork``), not ``os.urandom``: ids must be
unique, not secret, and a system call per id is measurable on the enqueue path.
Two threads racing here may produce ids out of order, never equal ones (62
random bits each).
"""

from __future__ import annotations

import time
import uuid
from random import getrandbits

_last_ms = 0
_counter = 0
_COUNTER_MAX = 0xFFF
_VARIANT = 0b10 << 62
_SAFE = uuid.SafeUUID.unknown


def new_task_id() -> str:
    """A fresh UUIDv7 string, greater than the ids this process made before it."""
    global _last_ms, _counter
    ms = time.time_ns() // 1_000_000
    if ms > _last_ms:
        _last_ms, _counter = ms, getrandbits(8)
    else:
        _counter += 1
        if _counter > _COUNTER_MAX:  # 4,096 ids in one millisecond: borrow the next one
            _last_ms, _counter = _last_ms + 1, 0
    ms, rand = _last_ms, _VARIANT | getrandbits(62)
    return "%08x-%04x-%04x-%04x-%012x" % (  # noqa: UP031 - one call: the cheapest spelling
        ms >> 16,
        ms & 0xFFFF,
        0x7000 | _counter,
        rand >> 48,
        rand & 0xFFFF_FFFF_FFFF,
    )


def task_uuid(task_id: str) -> uuid.UUID:
    """The ``uuid.UUID`` of a canonical id string, built without ``UUID.__init__``'s parsing
    (this runs once per record returned by a bulk enqueue)."""
    if len(task_id) != 36:
        return uuid.UUID(task_id)
    value = uuid.UUID.__new__(uuid.UUID)
    object.__setattr__(value, "int", int(task_id.replace("-", ""), 16))
    object.__setattr__(value, "is_safe", _SAFE)
    return value
