"""Batch outcomes finished in the same loop tick into one ``Broker.complete`` call.

A busy worker takes its next tasks in that same round trip: the completer
asks the worker how many slots are free and hands it what the broker leased.

A task is acknowledged only when its outcome is stored: the outcome waits
here (in memory, with its lease still renewed) until the broker confirms. A
broker error is retried with backoff; nothing is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from qtasks.core.broker import Broker
from qtasks.core.records import ClaimRequest, Delivery, Outcome, Retention
from qtasks.worker.backoff import Backoff

log = logging.getLogger("qtasks.worker")

#: While other tasks are still running, wait this long for their outcomes to share the write
#: (a result lands up to a millisecond later; the transaction count drops several-fold).
_LINGER = 0.001
#: ... unless this many outcomes are already waiting.
_BATCH = 100


class Completer:
    """Collects outcomes and stores them in batches."""

    def __init__(
        self,
        broker: Broker,
        *,
        retention: Retention,
        on_stored: Callable[[list[Outcome]], None],
        claim_request: Callable[[], ClaimRequest | None],
        on_claimed: Callable[[list[Delivery]], None],
        more_coming: Callable[[], bool] = lambda: False,
    ) -> None:
        self._broker = broker
        self._retention = retention
        self._on_stored = on_stored
        self._claim_request = claim_request
        self._on_claimed = on_claimed
        self._more_coming = more_coming
        self._pending: list[Outcome] = []
        self._flusher: asyncio.Task[None] | None = None

    @property
    def flushing(self) -> bool:
        return self._flusher is not None

    @property
    def pending_ids(self) -> list[str]:
        return [o.id for o in self._pending]

    def add(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let every task finishing in this tick join the batch
        if self._more_coming() and len(self._pending) < _BATCH:
            await asyncio.sleep(_LINGER)  # busy: a slightly later, bigger write is cheaper
        backoff = Backoff("storing outcomes")
        try:
            while self._pending:
                batch = self._pending
                self._pending = []
                try:
                    claimed = await self._broker.complete(
                        batch, retention=self._retention, claim=self._claim_request()
                    )
                except Exception as exc:
                    self._pending[:0] = batch  # kept, in order, until the broker confirms
                    await asyncio.sleep(backoff.failed(exc))
                    continue
                backoff.succeeded()
                self._on_stored(batch)
                if claimed:
                    self._on_claimed(claimed)
        finally:
            self._flusher = None

    async def drain(self) -> None:
        """Return once every outcome added so far is stored."""
        while self._flusher is not None:
            await asyncio.shield(self._flusher)
