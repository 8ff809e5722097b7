"""How many tasks a worker claims ahead of its free slots.

A reserve of claimed-but-not-started tasks saves round trips (the next task
starts the moment a slot frees, and claims come in bigger batches), but a task
held in one worker's reserve cannot run on an idle worker elsewhere. So the
reserve is sized by time, not count: about ``horizon`` seconds of work at the
rate this worker finishes tasks, never more than the ``prefetch`` cap. Quick
tasks get a deep reserve; tasks of a second or more get none.
"""

from __future__ import annotations

import time


class Pacer:
    """Tracks the finishing rate and turns it into a reserve size."""

    __slots__ = ("_count", "_rate", "_window_start", "cap", "horizon")

    #: Rate samples are taken over windows at least this long.
    WINDOW = 0.1

    def __init__(self, cap: int, horizon: float = 0.05) -> None:
        self.cap = cap
        self.horizon = horizon
        self._rate = 0.0
        self._count = 0
        self._window_start = time.monotonic()

    def finished(self, count: int) -> None:
        """``count`` tasks just finished."""
        self._count += count
        now = time.monotonic()
        elapsed = now - self._window_start
        if elapsed >= self.WINDOW:
            sample = self._count / elapsed
            self._rate = sample if self._rate == 0 else 0.5 * self._rate + 0.5 * sample
            self._count = 0
            self._window_start = now

    @property
    def reserve(self) -> int:
        """Tasks worth holding beyond the running ones right now."""
        return min(self.cap, int(self._rate * self.horizon))
