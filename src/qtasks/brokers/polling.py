"""Waiting helpers for transports: adaptive polling (SQLite), Task-free event waits.

The polling interval stays short for a while after the last activity, so
work arriving at a steady trickle is seen within a fraction of a millisecond,
then doubles while nothing happens, so an idle worker costs almost nothing.
"""

from __future__ import annotations

import asyncio
import time


class AdaptivePoll:
    """Sleep ``minimum`` between checks for ``hot`` seconds after activity, then back off."""

    __slots__ = ("_interval", "_last_activity", "hot", "maximum", "minimum")

    def __init__(self, minimum: float = 0.0005, maximum: float = 0.02, hot: float = 2.0) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.hot = hot
        self._interval = minimum
        self._last_activity = time.monotonic()

    def reset(self) -> None:
        """Something happened: check often again."""
        self._interval = self.minimum
        self._last_activity = time.monotonic()

    async def sleep(self, at_most: float) -> None:
        """Sleep one interval (never past ``at_most`` seconds); lengthen it once cold."""
        await asyncio.sleep(max(0.0, min(self._interval, at_most)))
        if time.monotonic() - self._last_activity > self.hot:
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
