"""Batch outcomes finished in the same loop tick into one ``Broker.complete`` call.

A busy worker takes its next tasks in that same round trip: the completer
asks the worker how many slots are free and hands it what the broker leased.

A task is acknowledged only when its outcome is stored: the outcome waits
here (in memory, with its lease still renewed) until the broker confirms. A
broker error is retried with backoff; nothing is dropped. A value the broker
*refuses* (it answered, and said no: ``ValueError``, ``TypeError``,
``OverflowError``, :class:`~qtasks.core.errors.RefusedValueError`) is not
retried as it is: the batch is stored outcome by outcome, and an outcome
refused alone is stored as an ``error`` saying why, so one bad value never
holds back the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from qtasks.core.broker import Broker
from qtasks.core.errors import exception_path
from qtasks.core.records import ClaimRequest, Delivery, Outcome, Retention, storable
from qtasks.core.status import TaskStatusEnum
from qtasks.worker.backoff import Backoff

log = logging.getLogger("qtasks.worker")

#: While other tasks are still running, wait this long for their outcomes to share the write
#: (a result lands up to a millisecond later; the transaction count drops several-fold).
_LINGER = 0.001
#: ... unless this many outcomes are already waiting.
_BATCH = 100
#: What a broker raises when it refuses a value rather than fails to answer.
_REFUSALS = (ValueError, TypeError, OverflowError)


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
        self._pending.append(storable(outcome))
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
                except _REFUSALS as exc:
                    batch = await self._store_refused(batch, exc)
                    claimed = []
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

    async def _store_refused(self, batch: list[Outcome], refusal: Exception) -> list[Outcome]:
        """Store a refused batch one outcome at a time; one refused alone is stored as an
        ``error`` naming the refusal. Returns what was stored; what failed for another
        reason (the broker went away meanwhile) goes back to the pending list."""
        stored: list[Outcome] = []
        for index, outcome in enumerate(batch):
            try:
                if len(batch) > 1:
                    try:
                        await self._broker.complete([outcome], retention=self._retention)
                        stored.append(outcome)
                        continue
                    except _REFUSALS as exc:
                        refusal = exc
                replacement = unstorable(outcome, refusal)
                log.error("task %s: its outcome was refused by the broker: %s", outcome.id, refusal)
                await self._broker.complete([replacement], retention=self._retention)
                stored.append(replacement)
            except Exception:
                self._pending[:0] = batch[index:]  # not refused: retried with the backoff
                break
        return stored

    def abandon(self) -> int:
        """Stop trying to store what is pending (shutdown past its time); returns how many
        outcomes are left unstored: their tasks were never acknowledged, so they run again
        once their leases expire."""
        if self._flusher is not None:
            self._flusher.cancel()
        left, self._pending = len(self._pending), []
        return left

    async def drain(self) -> None:
        """Return once every outcome added so far is stored."""
        while self._flusher is not None:
            await asyncio.shield(self._flusher)


def unstorable(outcome: Outcome, refusal: Exception) -> Outcome:
    """An ``error`` outcome, plain ASCII, saying why ``outcome`` could not be stored."""
    text = (
        f"qtasks could not store this task's outcome ({outcome.status.value}): the broker "
        f"refused it with {exception_path(refusal)}: {refusal}\n"
        f"original error type: {outcome.error_type or '-'}\n"
        f"original traceback:\n{outcome.traceback or '-'}"
    )
    return Outcome(
        id=outcome.id,
        queue=outcome.queue,
        status=TaskStatusEnum.ERROR,
        traceback=text.encode("ascii", "backslashreplace").decode("ascii")[:100_000],
        error_type=exception_path(refusal),
        finished_at=outcome.finished_at,
    )
