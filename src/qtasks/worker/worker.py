"""The worker: claim due tasks in batches, run them, keep their leases, store outcomes.

Stages, each small: the claim loop (never holds more than it can start: it
claims at most the free slots, capped by ``prefetch``); ``Executor`` (async
tasks on the loop, sync tasks on a bounded thread pool); one lease timer for
every running task; ``Completer`` (outcomes of one tick in one write); a
maintenance timer (recover expired leases of dead workers, purge expired
results); the heartbeat (``heartbeat.py``); and shutdown (``shutdown.py``: stop
claiming, let running tasks finish within the grace period, release the rest).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from qtasks.core.broker import Broker
from qtasks.core.definition import TaskDefinition
from qtasks.core.envelope import Envelope, decode_envelope, peek_task_name
from qtasks.core.errors import BrokerError, MessageDecodeError, TaskNotFoundError
from qtasks.core.hooks import HookChain
from qtasks.core.records import ClaimRequest, Delivery, Outcome
from qtasks.core.status import TaskStatusEnum
from qtasks.worker.backoff import Backoff
from qtasks.worker.completer import Completer
from qtasks.worker.execute import EchoFactory, Executor, cancel_outcome, decode_here, error_outcome
from qtasks.worker.heartbeat import Heartbeat
from qtasks.worker.options import WorkerOptions as WorkerOptions  # (re-exported)
from qtasks.worker.pacing import Pacer
from qtasks.worker.shutdown import shut_down
from qtasks.worker.startup import connect_at_start
from qtasks.worker.threads import ThreadRunner
from qtasks.worker.timers import being_cancelled, install_signals_for, maintain

log = logging.getLogger("qtasks.worker")

#: How long one blocking claim waits before the loop looks around again.
_CLAIM_WAIT = 1.0
#: Leases are renewed (and cancellation requests picked up) at least this often.
_RENEW_EVERY = 1.0
#: A ``burst`` worker whose claims keep failing this long stops with an error.
_BURST_GIVE_UP = 10.0


class Worker:
    """One worker process' engine; ``run()`` until stopped."""

    def __init__(
        self,
        broker: Broker,
        lookup: Callable[[Envelope], TaskDefinition | None],
        options: WorkerOptions,
        *,
        hooks: HookChain,
        echo_factory: EchoFactory,
        on_outcomes: Callable[[list[Outcome]], None] | None = None,
        broker_label: str | None = None,
    ) -> None:
        self.broker = broker
        #: How messages name the broker (its URL, password masked); the app sets it.
        self.broker_label = broker_label
        self.options = options
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lookup = lookup
        self._threads = ThreadRunner(options.concurrency)
        self.hooks = hooks
        self._executor = Executor(self._threads, echo_factory, hooks)
        self._executor.worker = self
        self._on_outcomes = on_outcomes
        self._running: dict[str, asyncio.Task[None]] = {}
        #: Running tasks ``cancel()`` can interrupt (async ones, child processes).
        self._interruptible: set[str] = set()
        #: Tasks ``cancel()`` asked to stop, with the reason: stored as ``cancel`` when they end.
        self._cancels: dict[str, str] = {}
        self._executor.cancel_reasons = self._cancels  # a stopped run ends through the hooks
        #: Claimed and not yet handed to the completer (running or reserved): what
        #: shutdown must release and the lease keeper must renew.
        self._unsettled: set[str] = set()
        #: Claimed ahead of a free slot (``prefetch``), started the moment one frees.
        self._reserve: collections.deque[Delivery] = collections.deque()
        self._pacer = Pacer(options.prefetch)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._force = False
        self._claimer: asyncio.Task[None] | None = None
        self._completer: Completer | None = None
        self._failure: Exception | None = None
        self._heartbeat: Heartbeat | None = None
        self.processed = 0
        #: Loops run beside the worker once it is connected, cancelled when it stops (the
        #: scheduler of ``run --schedule``).
        self.companions: list[Callable[[], Coroutine[Any, Any, None]]] = []

    # public ----------------------------------------------------------------------------

    def request_stop_threadsafe(self, *, force: bool = False) -> None:
        """``request_stop`` from any thread (a sync task, a signal in another thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(lambda: self.request_stop(force=force))

    def request_stop(self, *, force: bool = False) -> None:
        """Begin a graceful stop (or, with ``force``, stop without waiting for running tasks)."""
        if self._stopping.is_set():
            force = True  # a second request means: now
        self._force = self._force or force
        self._stopping.set()
        if self._claimer is not None:
            self._claimer.cancel()
        if self._force:
            for task in self._running.values():
                task.cancel()

    async def run(self, *, install_signals: bool = True, wait_for_broker: float = 0.0) -> None:
        """Work until stopped (signal, ``request_stop``, or burst mode running dry).

        The broker must answer first: if it does not, ``BrokerError`` says why in one
        line, at once or, with ``wait_for_broker``, after retrying that many seconds.
        """
        loop = self._loop = asyncio.get_running_loop()
        if install_signals:  # now, so that a signal also ends a wait for the broker
            install_signals_for(self, loop)
        connected = await connect_at_start(
            self.broker, label=self.broker_label, wait_for=wait_for_broker, stopping=self._stopping
        )
        if not connected:
            return
        try:
            await self.hooks.worker_start(self)
        except BaseException:
            await self.broker.close()
            raise
        self._threads.start(loop)
        self._completer = Completer(
            self.broker,
            retention=self.options.retention,
            on_stored=self._stored,
            claim_request=self._claim_request,
            on_claimed=self._start_all,
            more_coming=lambda: bool(self._running),
        )
        self._heartbeat = Heartbeat(
            self.broker,
            self.id,
            queues=self.options.queues,
            concurrency=self.options.concurrency,
            running=lambda: tuple(self._running),
        )
        timers = [
            loop.create_task(self._heartbeat.run()),
            loop.create_task(self._keep_leases()),
            loop.create_task(
                maintain(
                    self.broker,
                    self.options,
                    give_up_after=_BURST_GIVE_UP if self.options.burst else None,
                    give_up=self._give_up,
                )
            ),
        ]
        timers.extend(loop.create_task(companion()) for companion in self.companions)
        self._claimer = loop.create_task(self._claim_loop())
        log.info(
            "worker %s listening on %s (concurrency %d)",
            self.id,
            ", ".join(self.options.queues),
            self.options.concurrency,
        )
        try:
            await self._stopping.wait()
        finally:
            await shut_down(self, timers)
        if self._failure is not None:
            raise BrokerError(
                f"burst worker gave up after the broker failed for {_BURST_GIVE_UP:.0f}s: "
                f"{self._failure}"
            ) from self._failure

    # stages ----------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        options = self.options
        backoff = Backoff("claiming tasks")
        while not self._stopping.is_set():
            room = self._room()
            if room <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                # Tasks just finished: their outcomes' write usually claims the next ones.
                await self._completer_drain()
                continue
            try:
                deliveries = await self.broker.claim(
                    options.queues,
                    room,
                    lease=options.lease,
                    worker_id=self.id,
                    wait=0.2 if options.burst else _CLAIM_WAIT,
                )
            except Exception as exc:
                await asyncio.sleep(backoff.failed(exc))
                continue
            backoff.succeeded()
            self._start_all(deliveries)
            if options.burst and not deliveries and not self._unsettled:
                await self._completer_drain()
                self._stopping.set()
                return

    def _give_up(self, exc: Exception) -> None:
        """A burst run (cron, CI) whose broker stays down must end, and say it failed."""
        self._failure = exc
        self.request_stop()

    def _room(self) -> int:
        """How many more tasks this worker may hold: free slots plus the paced reserve."""
        return self.options.concurrency + self._pacer.reserve - len(self._unsettled)

    def _claim_request(self) -> ClaimRequest | None:
        """What the next outcome write may claim: the room left, unless stopping."""
        room = self._room()
        if room <= 0 or self._stopping.is_set():
            return None
        return ClaimRequest(
            queues=self.options.queues, limit=room, lease=self.options.lease, worker_id=self.id
        )

    def _start_all(self, deliveries: list[Delivery]) -> None:
        """Start what fits in the free slots; keep the rest in the reserve, leased."""
        self._unsettled.update(d.id for d in deliveries)
        self._reserve.extend(deliveries)
        self._start_reserved()

    def _start_reserved(self) -> None:
        if self._stopping.is_set():
            return  # stopping: the reserve goes back to the queue, not into new runs
        loop = asyncio.get_running_loop()
        while self._reserve and len(self._running) < self.options.concurrency:
            delivery = self._reserve.popleft()
            self._running[delivery.id] = loop.create_task(self._run_one(delivery))

    async def _run_one(self, delivery: Delivery) -> None:
        task_id = delivery.id
        try:
            try:
                outcome = await self._outcome_of(delivery)
            except Exception as exc:  # a defect of ours: fail this task, never hold its slot
                log.exception("task %s: the worker failed to run it", task_id)
                outcome = error_outcome(task_id, exc)
            except asyncio.CancelledError:
                if task_id not in self._cancels:
                    raise  # shutting down: the task is released, not failed
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
                outcome = None
            if task_id in self._cancels and (
                outcome is None or outcome.status is not TaskStatusEnum.CANCEL
            ):
                outcome = cancel_outcome(task_id, None, self._cancels[task_id])
            self._unsettled.discard(task_id)
            if outcome is not None:
                assert self._completer is not None
                self._completer.add(outcome)
        finally:
            self._running.pop(task_id, None)
            self._interruptible.discard(task_id)
            self._start_reserved()  # the next task starts now, without a round trip
            self._slot_freed.set()

    def _cancel_requested(self, task_id: str, reason: str) -> None:
        """``cancel()`` asked to stop a task this worker holds."""
        if task_id in self._cancels or task_id not in self._unsettled:
            return
        self._cancels[task_id] = reason
        for delivery in self._reserve:
            if delivery.id == task_id:  # claimed ahead, not started: never start it
                self._reserve.remove(delivery)
                self._unsettled.discard(task_id)
                assert self._completer is not None
                self._completer.add(cancel_outcome(task_id, None, reason))
                return
        running = self._running.get(task_id)
        if running is not None and task_id in self._interruptible:
            running.cancel()

    async def _outcome_of(self, delivery: Delivery) -> Outcome | None:
        """Run one delivery; ``None`` when it must not run now (left to its lease)."""
        try:
            envelope = decode_here(delivery.body)
            if envelope is None:  # large, or nested deeper than this stack goes
                envelope = await asyncio.to_thread(decode_envelope, delivery.body)
        except MessageDecodeError as exc:
            log.error("task %s (%s): %s", delivery.id, peek_task_name(delivery.body), exc)
            return error_outcome(delivery.id, exc)
        if envelope.id != delivery.id:  # a body copied from another task: never act for that one
            return error_outcome(
                delivery.id,
                MessageDecodeError(
                    f"the message body names task id {envelope.id}, "
                    f"but it was stored as {delivery.id}"
                ),
            )
        try:
            definition = self._lookup(envelope)
        except Exception as exc:  # a resolver failed (a Django task path that does not import)
            log.error("task %s: cannot resolve %r: %s", delivery.id, envelope.task_name, exc)
            return error_outcome(delivery.id, exc)
        if definition is None:
            log.error("task %s: no task named %r is registered", delivery.id, envelope.task_name)
            return error_outcome(
                delivery.id,
                TaskNotFoundError(
                    f"no task named {envelope.task_name!r} is registered on this worker's app"
                ),
            )
        if definition.acks_early:
            try:
                await self.broker.start_at_most_once([delivery.id], worker_id=self.id)
            except Exception:
                # Not marked, so not started: its lease runs out and it is delivered again.
                log.exception("task %s: marking it at-most-once failed; not run now", delivery.id)
                return None
        if definition.kind.is_async or definition.executor == "process":
            self._interruptible.add(delivery.id)
        return await self._executor.run(
            definition, envelope, delivery, lambda: delivery.id in self._cancels
        )

    def _stored(self, outcomes: list[Outcome]) -> None:
        self.processed += len(outcomes)
        self._pacer.finished(len(outcomes))
        if self._heartbeat is not None:
            self._heartbeat.count(outcomes)
        if self._on_outcomes is not None:
            self._on_outcomes(outcomes)

    async def _keep_leases(self) -> None:
        """One timer renews the lease of every running (and not yet stored) task."""
        interval = min(self.options.lease / 3, _RENEW_EVERY)
        backoff = Backoff("renewing leases")
        while not being_cancelled():
            await asyncio.sleep(interval)
            assert self._completer is not None
            ids = [*self._unsettled, *self._completer.pending_ids]
            if not ids:
                continue
            try:
                cancels = await self.broker.extend(ids, lease=self.options.lease, worker_id=self.id)
            except Exception as exc:
                backoff.failed(exc)  # the timer itself paces the retries
                continue
            backoff.succeeded()
            for task_id, reason in cancels.items():
                self._cancel_requested(task_id, reason)
            self._forget_cancels()

    def _forget_cancels(self) -> None:
        """Drop requests for tasks this worker no longer holds."""
        for task_id in [t for t in self._cancels if t not in self._unsettled]:
            del self._cancels[task_id]

    async def _completer_drain(self) -> None:
        if self._completer is not None:
            await self._completer.drain()
