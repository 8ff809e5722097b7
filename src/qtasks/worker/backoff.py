"""Retry pacing and logging for worker stages that talk to the broker.

When the broker goes away (restart, failover, network), every stage keeps its
state and retries with exponential backoff. The log says so in one line when it
starts failing (a traceback only for errors that are not about reachability),
again only when the error changes or every ``_REMIND`` seconds while it lasts,
and once more when the broker answers again.
"""

from __future__ import annotations

import logging
import time

from qtasks.core.errors import BrokerError

log = logging.getLogger("qtasks.worker")

#: Errors that mean "the broker is unreachable right now", not a bug: logged without traceback.
UNREACHABLE = (BrokerError, ConnectionError, TimeoutError, OSError)
#: While the same failure lasts, it is logged again this often (not at every retry).
_REMIND = 60.0


class Backoff:
    """Delays 0.05 s, 0.1 s, ... up to ``maximum`` between attempts of one stage."""

    def __init__(self, stage: str, *, first: float = 0.05, maximum: float = 5.0) -> None:
        self.stage = stage
        self._first = first
        self._maximum = maximum
        self._delay = first
        self._down_since: float | None = None
        self._said: tuple[str, float] | None = None  # what was logged last, and when

    @property
    def failing_for(self) -> float:
        """Seconds this stage has been failing without a success (0 if it is not)."""
        return 0.0 if self._down_since is None else time.monotonic() - self._down_since

    def failed(self, exc: BaseException) -> float:
        """Log this failure (unless it repeats the last one); returns how long to wait
        before the next attempt."""
        delay = self._delay
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
        text = f"{type(exc).__name__}: {exc}"
        if self._said is None or self._said[0] != text or now - self._said[1] >= _REMIND:
            self._said = (text, now)
            if isinstance(exc, UNREACHABLE):
                log.warning(
                    "%s: broker unreachable (%s); retrying with backoff (up to %.0fs), "
                    "failing for %.0fs",
                    self.stage,
                    exc,
                    self._maximum,
                    now - self._down_since,
                )
            else:
                log.error("%s failed; retrying with backoff", self.stage, exc_info=exc)
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
            self._said = None
        self._delay = self._first
