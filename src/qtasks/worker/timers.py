"""The worker's background chores: maintenance (recover the tasks of dead workers, run the
transport's housekeeping, purge expired results), signal handlers, and the check every
timer makes to notice it was asked to stop."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from qtasks.core.broker import Broker
from qtasks.worker.backoff import Backoff

if TYPE_CHECKING:
    from qtasks.worker.worker import Worker, WorkerOptions

log = logging.getLogger("qtasks.worker")

#: Results past their TTL are deleted this often.
_PURGE_EVERY = 60.0


async def maintain(
    broker: Broker,
    options: WorkerOptions,
    *,
    give_up_after: float | None = None,
    give_up: Callable[[Exception], None] | None = None,
) -> None:
    """Requeue tasks of dead workers soon after their lease expires; purge old results.
    With ``give_up_after``, a broker failing that long is reported to ``give_up`` (the
    maintenance step reaches the broker every second, whatever else is stuck)."""
    interval = min(1.0, options.lease / 4)
    last_purge = 0.0
    backoff = Backoff("maintenance")
    while not being_cancelled():
        try:
            recovered = await broker.recover_expired(
                max_attempts=options.max_attempts, retention=options.retention
            )
            await broker.housekeep()
            if recovered:
                log.warning("recovered %d tasks whose worker stopped renewing its lease", recovered)
            if time.monotonic() - last_purge > _PURGE_EVERY:
                last_purge = time.monotonic()
                await broker.purge_expired()
        except Exception as exc:
            delay = backoff.failed(exc)
            if give_up and give_up_after is not None and backoff.failing_for >= give_up_after:
                give_up(exc)
                return
            await asyncio.sleep(delay)
            continue
        backoff.succeeded()
        await asyncio.sleep(interval)


def install_signals_for(worker: Worker, loop: asyncio.AbstractEventLoop) -> None:
    """SIGTERM / SIGINT stop ``worker`` (a second one: at once); SIGUSR1 logs its tasks."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, worker.request_stop)
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGUSR1, log_tasks)  # "what is it waiting for?"


def being_cancelled() -> bool:
    """True once the current task was asked to stop, even if a library swallowed the
    CancelledError (Python 3.11's ``asyncio.wait_for``, used inside redis-py, can lose one
    that arrives as its inner call completes): the timers check this, so shutdown never
    waits on a timer that missed its cancellation."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def log_tasks() -> None:
    """Log where every asyncio task of the worker is waiting (``kill -USR1 <pid>``)."""
    for task in asyncio.all_tasks():
        out = io.StringIO()
        task.print_stack(file=out)
        log.warning("task %s:\n%s", task.get_name(), out.getvalue())
