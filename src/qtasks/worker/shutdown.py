"""How a worker stops: stop claiming, let running tasks finish within the grace period,
store what finished, release the rest to the queue, say goodbye, close the broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qtasks.worker.worker import Worker

log = logging.getLogger("qtasks.worker")

#: When stopping, how long storing the last outcomes and releasing the rest may take.
STORE_ON_STOP = 5.0


async def shut_down(worker: Worker, timers: Sequence[asyncio.Task[None]]) -> None:
    """Stop ``worker``: the last stage of its ``run``."""
    if worker._claimer is not None:
        await _end_waiting_claim(worker, worker._claimer)
        worker._claimer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker._claimer
    running = list(worker._running.values())
    if running and not worker._force:
        log.info(
            "stopping: waiting up to %.1fs for %d running tasks",
            worker.options.grace_period,
            len(running),
        )
        await asyncio.wait(running, timeout=worker.options.grace_period)
    await _cancel_running(worker)
    await _store_what_finished(worker)
    await _cancel_running(worker)  # in case the last outcome write claimed more
    unfinished = sorted(worker._unsettled)
    if unfinished:
        log.warning("releasing %d unfinished tasks back to the queue", len(unfinished))
        try:
            await asyncio.wait_for(
                worker.broker.release(
                    unfinished, worker_id=worker.id, retention=worker.options.retention
                ),
                STORE_ON_STOP,
            )
        except Exception as exc:  # never acknowledged: they run again after their lease
            log.error("releasing them failed (%s): they run when their leases expire", exc)
    for timer in timers:
        timer.cancel()
    await asyncio.wait(timers, timeout=5.0)
    worker._threads.stop()
    worker._executor.stop()
    if worker._heartbeat is not None:
        await worker._heartbeat.stop(STORE_ON_STOP)
    await worker.hooks.worker_stop(worker)
    try:
        await asyncio.wait_for(worker.broker.close(), STORE_ON_STOP)
    except Exception as exc:
        log.warning("closing the broker connection failed: %s", exc)
    log.info("worker %s stopped after %d tasks", worker.id, worker.processed)


async def _end_waiting_claim(worker: Worker, claimer: asyncio.Task[None]) -> None:
    """A broker that hands tasks to waiting workers (Redis: ``interrupt_wait``) ends the
    claim it waits in, which returns what was handed to it (released below with the rest)
    rather than losing it to a cancelled call; then the claim loop sees the stop."""
    interrupt = getattr(worker.broker, "interrupt_wait", None)
    if interrupt is None or claimer.done():
        return
    try:
        waiting = await asyncio.wait_for(interrupt(worker.id, worker.options.queues), STORE_ON_STOP)
    except Exception as exc:  # down: the claim is cancelled; its tasks' leases expire
        log.warning("stopping: could not end the waiting claim (%s)", exc)
        return
    if waiting:
        await asyncio.wait({claimer}, timeout=STORE_ON_STOP)


async def _store_what_finished(worker: Worker) -> None:
    """Store the outcomes still pending, for at most ``STORE_ON_STOP`` seconds: a broker
    that is down must not keep a stopping worker alive. Unstored tasks were never
    acknowledged, so nothing is lost: they run again once their leases expire."""
    if worker._completer is None:
        return
    try:
        await asyncio.wait_for(worker._completer.drain(), STORE_ON_STOP)
    except TimeoutError:
        left = worker._completer.abandon()
        log.error(
            "stopping: %d outcomes could not be stored in %.0fs (is the broker down?); "
            "their tasks run again once their leases expire",
            left,
            STORE_ON_STOP,
        )


async def _cancel_running(worker: Worker) -> None:
    for task in worker._running.values():
        task.cancel()
    if worker._running:
        await asyncio.wait(list(worker._running.values()), timeout=1.0)
