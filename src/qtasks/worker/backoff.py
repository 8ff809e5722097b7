"""Retry pacing and logging for worker stages that talk to the broker.

When the broker goes away (restart, failover, network), every stage keeps its
state and retries with exponential backoff; the log says so once per failure
in one line (a traceback only for errors that are not about reachability)
and once more when the broker answers again.
"""

from __future__ import annotations

import logging
import time

from qtasks.core.errors import BrokerError

log = logging.getLogger("qtasks.worker")

#: Errors that mean "the broker is unreachable right now", not a bug: logged without traceback.
UNREACHABLE = (BrokerError, ConnectionError, TimeoutError, OSError)


class Backoff:
    """Delays 0.05 s, 0.1 s, ... up to ``maximum`` between attempts of one stage."""

    def __init__(self, stage: str, *, first: float = 0.05, maximum: float = 5.0) -> None:
        self.stage = stage
        self._first = first
        self._maximum = maximum
        self._delay = first
        self._down_since: float | None = None

    def failed(self, exc: BaseException) -> float:
        """Log this failure; returns how long to wait before the next attempt."""
        delay = self._delay
        if self._down_since is None:
            self._down_since = time.monotonic()
        if isinstance(exc, UNREACHABLE):
            log.warning("%s: broker unreachable (%s); retrying in %.2fs", self.stage, exc, delay)
        else:
            log.error("%s failed; retrying in %.2fs", self.stage, delay, exc_info=exc)
        self._delay = min(delay * 2, self._maximum)
        return delay

    def succeeded(self) -> None:
        """The stage worked: reset the delay, and say so if it had been failing."""
        if self._down_since is not None:
            log.warning(
                "%s: broker reachable again after %.1fs",
                self.stage,
                time.monotonic() - self._down_since,
            )
            self._down_since = None
        self._delay = self._first
