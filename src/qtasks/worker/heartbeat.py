"""A worker's heartbeat: who it is, what it runs now, what it finished.

Every few seconds the worker upserts its :class:`~qtasks.core.inspection.WorkerInfo` in
the broker, with the per-minute counts of the outcomes it stored since the last beat
(one small write per beat, never one per task). A worker not heard of for
:data:`WORKER_TTL` seconds is shown dead; its leases are recovered as they always were,
by lease expiry, not by this. A clean stop says goodbye (``worker_stopped``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence

from qtasks.core.broker import Broker
from qtasks.core.inspection import (
    COUNT_FIELDS,
    HEARTBEAT_EVERY,
    WORKER_TTL,
    CountsBuffer,
    MinuteCounts,
    WorkerInfo,
)
from qtasks.core.records import Outcome
from qtasks.core.status import TaskStatusEnum
from qtasks.worker.backoff import Backoff
from qtasks.worker.timers import being_cancelled

log = logging.getLogger("qtasks.worker")

#: The counts each final status adds to (``MinuteCounts`` field names).
_COUNTED = {
    TaskStatusEnum.SUCCESS: "succeeded",
    TaskStatusEnum.ERROR: "failed",
    TaskStatusEnum.RETRY: "retried",
    TaskStatusEnum.CANCEL: "cancelled",
}
#: Where an outcome whose message could not be read (no queue known) is counted.
UNKNOWN_QUEUE = "(unknown)"


class Heartbeat:
    """The heartbeat of one worker: ``count`` each batch of stored outcomes, ``run`` as a
    timer, ``stop`` at the end (a last beat with the last counts, then goodbye)."""

    def __init__(
        self,
        broker: Broker,
        worker_id: str,
        *,
        queues: Sequence[str],
        concurrency: int,
        running: Callable[[], Sequence[str]],
        every: float = HEARTBEAT_EVERY,
    ) -> None:
        self._broker = broker
        self._id = worker_id
        self._queues = tuple(queues)
        self._concurrency = concurrency
        self._running = running
        self._every = every
        self._started_at = time.time()
        self._counts = CountsBuffer()
        self.done = 0
        self.failed = 0

    def count(self, outcomes: Sequence[Outcome]) -> None:
        """Add stored outcomes to this worker's totals and to the per-minute counts."""
        minute = int(time.time() // 60)
        for outcome in outcomes:
            what = _COUNTED.get(outcome.status)
            if what is None:
                continue
            self.done += 1
            if outcome.status is TaskStatusEnum.ERROR:
                self.failed += 1
            self._counts.add(minute, outcome.queue or UNKNOWN_QUEUE, what)

    def info(self) -> WorkerInfo:
        """This worker as its next beat describes it."""
        return WorkerInfo(
            id=self._id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=self._queues,
            concurrency=self._concurrency,
            started_at=self._started_at,
            last_seen=time.time(),
            running=tuple(self._running()),
            done=self.done,
            failed=self.failed,
        )

    async def beat(self) -> None:
        """One beat; the counts it carried are dropped only once the broker took them."""
        counts = self._counts.drain()
        try:
            await self._broker.heartbeat(self.info(), ttl=WORKER_TTL, counts=counts)
        except BaseException:
            self._give_back(counts)
            raise

    def _give_back(self, counts: list[MinuteCounts]) -> None:
        for row in counts:
            for what in COUNT_FIELDS:
                n = getattr(row, what)
                if n:
                    self._counts.add(row.minute, row.queue, what, n)

    async def run(self) -> None:
        """Beat every ``every`` seconds until cancelled; a failing broker is retried."""
        backoff = Backoff("sending the heartbeat")
        while not being_cancelled():
            try:
                await self.beat()
            except Exception as exc:
                backoff.failed(exc)  # the timer paces the retries
            else:
                backoff.succeeded()
            await asyncio.sleep(self._every)

    async def stop(self, timeout: float) -> None:
        """The last beat (its counts) and the goodbye, within ``timeout`` seconds; a
        broker that is down is logged (the record then expires as a dead worker's)."""
        try:
            await asyncio.wait_for(self._goodbye(), timeout)
        except Exception as exc:
            log.warning("worker %s: the last heartbeat failed (%r)", self._id, exc)

    async def _goodbye(self) -> None:
        await self.beat()
        await self._broker.worker_stopped(self._id)
