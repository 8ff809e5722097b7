"""Waiting helpers for transports: adaptive polling (SQLite), Task-free event waits.

The interval starts short, so work arriving right after activity is seen
within a fraction of a millisecond, and doubles while nothing happens, so an
idle worker costs almost nothing.
"""

from __future__ import annotations

import asyncio


class AdaptivePoll:
    """Sleep between checks: ``minimum`` after activity, growing to ``maximum`` when idle."""

    __slots__ = ("_interval", "maximum", "minimum")

    def __init__(self, minimum: float = 0.0005, maximum: float = 0.02) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self._interval = minimum

    def reset(self) -> None:
        """Something happened: check again soon."""
        self._interval = self.minimum

    async def sleep(self, at_most: float) -> None:
        """Sleep one interval (never past ``at_most`` seconds), then lengthen the next one."""
        await asyncio.sleep(max(0.0, min(self._interval, at_most)))
        self._interval = min(self.maximum, self._interval * 2)


async def wait_event(event: asyncio.Event, timeout: float) -> None:
    """Wait until ``event`` is set or ``timeout`` passes.

    Unlike ``asyncio.wait_for`` / ``asyncio.timeout`` this needs no current Task, so
    inline transports can be driven directly by the sync facade (see ``runner``).
    """
    handle = asyncio.get_running_loop().call_later(timeout, event.set)
    try:
        await event.wait()
    finally:
        handle.cancel()
