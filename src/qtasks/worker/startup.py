"""A worker's first contact with its broker: connect and get an answer before it says
"listening", or fail in one line.

At start a broker that does not answer is a mistake to report, not an outage to ride
out: a wrong URL or a server that is not up would otherwise look like a worker waiting
for work. So the first failure raises ``BrokerError`` at once, unless the caller asked
to wait (``wait_for``: a worker started alongside its broker, as in docker compose),
in which case it retries with back-off, one log line per attempt, until the time runs
out. Failures after a successful start are the stages' own back-off (``backoff.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time

from qtasks.core.broker import Broker
from qtasks.core.errors import BrokerError
from qtasks.worker.backoff import UNREACHABLE

log = logging.getLogger("qtasks.worker")

#: Delay before the second attempt; doubled after each failure, up to ``_LONGEST``.
_FIRST_DELAY = 0.25
_LONGEST = 5.0
#: How a transport's error message starts before the driver's own words.
_WRAPPED = re.compile(r"^\w+ at \S+ failed: ")


def start_failure(label: str | None, exc: BaseException) -> str:
    """The one line saying why the broker could not be reached: where, and the cause."""
    reason = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__  # (multi-line)
    if label is None:
        return f"cannot connect to the broker: {reason}"
    # The transports say "Redis at <where> failed: <driver's words>": the line names the
    # URL already, so the driver's words are the cause.
    return f"cannot connect to the broker at {label}: {_WRAPPED.sub('', reason, count=1)}"


async def connect_at_start(
    broker: Broker,
    *,
    label: str | None,
    wait_for: float,
    stopping: asyncio.Event,
) -> bool:
    """Connect ``broker`` and check it answers (``ping``): True once it does.

    ``label`` names the broker in messages (its URL, password masked). With ``wait_for``
    0 the first failure raises ``BrokerError`` with the one-line reason; otherwise the
    attempts go on with back-off for ``wait_for`` seconds, then raise the same way.
    False when ``stopping`` is set while waiting (the worker was stopped before it ran).
    Errors that are not about reaching the broker (a refused schema, a bad option) are
    raised at once, as they are: waiting would not fix them.
    """
    started = time.monotonic()
    delay = _FIRST_DELAY
    attempt = 0
    while True:
        attempt += 1
        try:
            await broker.connect()
            if await broker.ping():
                return True
            raise BrokerError("it did not answer a ping")
        except UNREACHABLE as exc:
            failure = exc
        with contextlib.suppress(Exception):  # a half-open client must not leak a pool
            await broker.close()
        waited = time.monotonic() - started
        left = wait_for - waited
        line = start_failure(label, failure)
        if left <= 0:
            if wait_for > 0:
                line += f" (gave up after {waited:.0f}s, {attempt} attempts)"
            raise BrokerError(line) from failure
        pause = min(delay, left)
        log.warning("attempt %d: %s; retrying in %.1fs (%.1fs left)", attempt, line, pause, left)
        try:
            await asyncio.wait_for(stopping.wait(), pause)
        except TimeoutError:
            delay = min(delay * 2, _LONGEST)
            continue
        log.info("stopped while waiting for the broker")
        return False
