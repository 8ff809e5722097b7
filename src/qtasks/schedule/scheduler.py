"""The scheduler: sends each schedule's ticks as unique tasks (core/unique.py).

Any number of schedulers may run (in workers started with ``--schedule``, in ``qtasks
timer`` processes, on any machines): each sends every tick it sees due, with the
schedule's key, ``unique_after`` = the tick and ``unique_until`` = the next tick. The
broker lets exactly one message per tick through, so a tick fires once however many
schedulers race, and a killed scheduler leaves no gap while another one runs. Nothing is
kept but the key: who holds it says which tick fired last (``unique_hold``), so a
scheduler starting after every scheduler was down knows which ticks were missed and
applies the schedule's ``catch_up``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from qtasks.core.envelope import Envelope
from qtasks.schedule.spec import CATCH_UP_LIMIT, SCHEDULE_HEADER, TICK_HEADER, Schedule
from qtasks.schedule.triggers import Trigger

if TYPE_CHECKING:
    from qtasks.app import AppCore

#: ``unique_until`` of a trigger's last tick (a one-shot date): held for good.
FOREVER = float(2**53)
#: A tick at most this late (and half its period) is on time, even under ``catch_up="none"``.
GRACE_SECONDS = 60.0
#: The longest a scheduler sleeps without looking at the clock again (it may jump).
MAX_SLEEP = 30.0
#: After a failed send (the broker unreachable), the tick is sent again this much later.
RETRY_SECONDS = 1.0
#: How many ticks are walked to find the latest missed one before giving up the walk.
_WALK_LIMIT = 100_000

log = logging.getLogger("qtasks.schedule")

#: Builds the message of one run: ``(schedule, eta) -> Envelope`` (Django's differs).
EnvelopeBuilder = Callable[[Schedule, float], Envelope]


class Clock(Protocol):
    def time(self) -> float: ...

    async def sleep(self, seconds: float, stop: asyncio.Event) -> None:
        """Return after ``seconds``, or sooner once ``stop`` is set."""


class SystemClock:
    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float, stop: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))


@dataclass(slots=True)
class _Plan:
    schedule: Schedule
    next_tick: float | None
    """The tick to send next; ``None``: the trigger fires no more."""


class Scheduler:
    """Sends the ticks of ``schedules`` through ``app`` until :meth:`stop`."""

    def __init__(
        self,
        app: AppCore[Any],
        schedules: Sequence[Schedule],
        *,
        clock: Clock | None = None,
        build: EnvelopeBuilder | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.app = app
        self.schedules = list(schedules)
        self.clock = clock or SystemClock()
        self._build = build or self._default_envelope
        self._rng = rng or random.Random()
        self._stop = asyncio.Event()
        self.sent = 0
        """Ticks this scheduler made a task for (others' are not counted)."""

    def stop(self) -> None:
        self._stop.set()

    def _default_envelope(self, schedule: Schedule, eta: float) -> Envelope:
        return self.app._envelope(
            schedule.task_name,
            schedule.args,
            schedule.kwargs,
            priority=schedule.priority,
            eta=eta,
        )

    async def run(self) -> None:
        """Send ticks until stopped. A failing send (broker down) is logged and tried again:
        the broker's key makes a second try of a tick harmless."""
        self._stop = asyncio.Event()  # bound to the running loop
        plans = [_Plan(s, None) for s in self.schedules]
        started = [False] * len(plans)
        while not self._stop.is_set():
            now = self.clock.time()
            wake = now + MAX_SLEEP
            for index, plan in enumerate(plans):
                try:
                    if not started[index]:
                        await self._start(plan, now)
                        started[index] = True
                    elif plan.next_tick is not None and plan.next_tick <= now:
                        await self._send_due(plan, plan.next_tick, now)
                except Exception:  # the broker is down: keep the plan, try again soon
                    log.exception("schedule %s: sending its tick failed", plan.schedule.name)
                    wake = min(wake, now + RETRY_SECONDS)
                    continue
                if plan.next_tick is not None:
                    wake = min(wake, plan.next_tick)
            await self.clock.sleep(wake - self.clock.time(), self._stop)

    async def _start(self, plan: _Plan, now: float) -> None:
        """Pick up where the schedule's key says the last tick was."""
        schedule = plan.schedule
        hold = await self.app._client.unique_hold(self._queue(schedule), schedule.key)
        if hold is not None and hold[1] <= now:  # ticks from hold[1] on were missed
            await self._send_due(plan, hold[1], now)
        else:
            plan.next_tick = schedule.trigger.next_after(now)

    def _envelope(self, schedule: Schedule, eta: float) -> Envelope:
        build = schedule.build or self._build
        return build(schedule, eta)

    def _queue(self, schedule: Schedule) -> str:
        return self._envelope(schedule, 0.0).queue

    async def _send_due(self, plan: _Plan, first: float, now: float) -> None:
        """Send what is due from tick ``first`` (<= now) on, per the schedule's catch_up."""
        schedule = plan.schedule
        trigger = schedule.trigger
        ticks = [first]
        for _ in range(_WALK_LIMIT):
            following = trigger.next_after(ticks[-1])
            if following is None or following > now:
                break
            ticks.append(following)
            if schedule.catch_up != "all" and len(ticks) > 2:
                del ticks[1]  # only the first and the latest matter
        else:
            log.warning(
                "schedule %s: over %d ticks missed; catching up from the last one seen",
                schedule.name,
                _WALK_LIMIT,
            )
        latest = ticks[-1]
        if len(ticks) > 1 or now - latest > _grace(trigger, latest):
            log.info(
                "schedule %s: ticks missed since %s (catch_up=%r)",
                schedule.name,
                _stamp(first),
                schedule.catch_up,
            )
        if schedule.catch_up == "all":
            if len(ticks) > CATCH_UP_LIMIT:
                log.warning(
                    "schedule %s: %d ticks missed, running the last %d",
                    schedule.name,
                    len(ticks),
                    CATCH_UP_LIMIT,
                )
                ticks = ticks[-CATCH_UP_LIMIT:]
            for index, tick in enumerate(ticks):
                await self._send(schedule, tick, after=first if index == 0 else tick)
        elif schedule.catch_up == "latest" or now - latest <= _grace(trigger, latest):
            await self._send(schedule, latest, after=first)
        plan.next_tick = trigger.next_after(latest)

    async def _send(self, schedule: Schedule, tick: float, *, after: float) -> None:
        following = schedule.trigger.next_after(tick)
        eta = tick + (self._rng.uniform(0, schedule.jitter) if schedule.jitter else 0.0)
        envelope = self._envelope(schedule, eta)
        envelope = msgspec.structs.replace(
            envelope,
            unique_key=schedule.key,
            unique_after=after,
            unique_until=FOREVER if following is None else following,
            unique_while_running=schedule.skip_if_running,
            headers={**envelope.headers, SCHEDULE_HEADER: schedule.name, TICK_HEADER: repr(tick)},
        )
        _, held = await self.app._enqueue([envelope])
        if held:
            log.debug(
                "schedule %s: tick %s already sent (%s)",
                schedule.name,
                _stamp(tick),
                held[envelope.id],
            )
        else:
            self.sent += 1
            log.info(
                "schedule %s: tick %s sent as %s %s",
                schedule.name,
                _stamp(tick),
                schedule.task_name,
                envelope.id,
            )


def _grace(trigger: Trigger, tick: float) -> float:
    """How late a tick may be sent and still count as on time: a scheduler's lag (a busy
    loop), not an outage. At most a minute, and half the period."""
    following = trigger.next_after(tick)
    period = GRACE_SECONDS * 2 if following is None else following - tick
    return min(GRACE_SECONDS, period / 2)


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
