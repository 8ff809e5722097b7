"""Schedules on every transport, with a controllable clock: ticks fire once however many
schedulers send them, missed ticks follow ``catch_up``, a running run can skip a tick."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from qtasks import QueueTasks
from qtasks.schedule.scheduler import Scheduler
from qtasks.testing import drain_async
from qtasks.timers import AsyncTimer, SyncTimer
from tests.conftest import stored_ticks

pytestmark = pytest.mark.timeout(60)

T0 = 1_700_000_000.0  # a multiple of 10 (every=10 ticks on it), in the past: due at once


class FakeClock:
    """Time that moves only when the scheduler sleeps; stops it at ``until``."""

    def __init__(self, start: float, until: float) -> None:
        self.now, self.until = start, until
        self.at: dict[float, Any] = {}
        """Coroutine functions run when the clock passes their time."""

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float, stop: asyncio.Event) -> None:
        await asyncio.sleep(0)
        later = min(self.now + max(seconds, 0.0), self.until)
        for when in sorted(self.at):
            if self.now < when <= later:
                self.now = when
                await self.at.pop(when)()
                return
        self.now = later
        if self.now >= self.until:
            stop.set()


def run_closing(coro: Any, *apps: QueueTasks) -> Any:
    """``asyncio.run(coro)``, closing the apps' connections of that loop before it ends (a
    PostgreSQL pool left to the loop's end is not closed in time, and connections pile up
    over a test run)."""

    async def closing() -> Any:
        try:
            return await coro
        finally:
            for app in apps:
                await app._client.close()

    return asyncio.run(closing())


@pytest.fixture
def app(broker_url: str) -> Iterator[QueueTasks]:
    app = QueueTasks(broker_url=broker_url)

    @app.task
    def beat(label: str = "") -> str:
        return label

    yield app
    app.close()


def run_scheduler(app: QueueTasks, start: float, until: float, **options: Any) -> Scheduler:
    name = options.pop("name", "beat")
    schedule = app.schedule("beat", name=name, every=10, args=["x"], **options)
    scheduler = Scheduler(app, [schedule], clock=FakeClock(start, until))
    run_closing(scheduler.run(), app)
    return scheduler


ticks = stored_ticks


def test_each_tick_fires_once_from_a_running_scheduler(app: QueueTasks) -> None:
    sent = run_scheduler(app, T0 + 1, T0 + 35)
    assert ticks(app) == [T0 + 10, T0 + 20, T0 + 30]
    assert sent.sent == 3
    record = app.get(app.schedules["beat"] and _holder(app))
    assert record is not None and record.args == ("x",)


def _holder(app: QueueTasks) -> str:
    hold = run_closing(app._client.unique_hold("default", app.schedules["beat"].key), app)
    assert hold is not None
    return hold[0]


def test_two_schedulers_racing_send_each_tick_once(broker_url: str, app: QueueTasks) -> None:
    other = QueueTasks(broker_url=broker_url)
    try:
        schedules = [a.schedule("beat", every=10) for a in (app, other)]
        clocks = [FakeClock(T0 + 1, T0 + 95), FakeClock(T0 + 3, T0 + 95)]

        async def both() -> list[int]:
            runs = [
                Scheduler(a, [s], clock=c)
                for a, s, c in zip((app, other), schedules, clocks, strict=True)
            ]
            await asyncio.gather(*(r.run() for r in runs))
            return [r.sent for r in runs]

        sent = run_closing(both(), app, other)
        assert ticks(app) == [T0 + 10 * k for k in range(1, 10)]
        assert sum(sent) == 9
    finally:
        other.close()


def test_a_scheduler_far_behind_sends_nothing_twice(app: QueueTasks) -> None:
    run_scheduler(app, T0 + 1, T0 + 55)
    stale = run_scheduler(app, T0 + 1, T0 + 45)  # a clock behind replays ticks already sent
    assert stale.sent == 0
    assert ticks(app) == [T0 + 10 * k for k in range(1, 6)]


@pytest.mark.parametrize(
    ("catch_up", "expected"),
    [
        ("latest", [100.0]),  # one run for ticks 40..100, as the latest
        ("all", [40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]),
        ("none", []),
    ],
)
def test_ticks_missed_while_every_scheduler_was_down_follow_catch_up(
    app: QueueTasks, catch_up: str, expected: list[float]
) -> None:
    run_scheduler(app, T0 + 1, T0 + 35, catch_up=catch_up)  # ticks 10, 20, 30; next: 40
    # every scheduler down from T0+35 to T0+106; the next starts there
    run_scheduler(app, T0 + 106, T0 + 115, catch_up=catch_up)
    after_outage = [t - T0 for t in ticks(app)][3:]
    assert after_outage == [*expected, 110.0]


def test_a_tick_is_skipped_while_the_last_run_still_runs(app: QueueTasks) -> None:
    schedule = app.schedule("beat", every=10, skip_if_running=True)
    clock = FakeClock(T0 + 1, T0 + 35)
    clock.at[T0 + 25] = lambda: drain_async(app)  # tick 10 runs only after tick 20
    run_closing(Scheduler(app, [schedule], clock=clock).run(), app)
    assert ticks(app) == [T0 + 10, T0 + 30]  # 20 skipped: 10 still waited


def test_without_skip_a_tick_fires_though_the_last_run_waits(app: QueueTasks) -> None:
    run_scheduler(app, T0 + 1, T0 + 25)
    assert ticks(app) == [T0 + 10, T0 + 20]


def test_a_worker_with_schedule_fires_the_apps_schedules(broker_url: str) -> None:
    app = QueueTasks(broker_url=broker_url)
    seen: list[float] = []
    done = threading.Event()

    @app.task(schedule={"every": 0.5, "catch_up": "none"})
    def pulse() -> None:
        seen.append(time.time())
        if len(seen) >= 3:
            done.set()

    try:
        from qtasks.testing import worker_thread

        with worker_thread(app, schedule=True):
            assert done.wait(20)
        assert app.schedules["pulse"].task_name == "pulse"
    finally:
        app.close()


def test_qtasks_timer_api(broker_url: str) -> None:
    from apscheduler.triggers.interval import IntervalTrigger

    app = QueueTasks(broker_url=broker_url)
    got: list[tuple[Any, ...]] = []
    done = threading.Event()

    @app.task(name="report")
    def report(a: int, b: int = 0) -> None:
        got.append((a, b))
        if len(got) >= 2:
            done.set()

    try:
        timer = SyncTimer(app=app)
        timer.add_task("report", 1, b=2, trigger="* * * * * *")  # positional, crontab string
        timer.add_task(
            task_name="report", trigger=IntervalTrigger(seconds=1), args=(3,), kwargs={"b": 4}
        )
        assert [s.name for s in timer.schedules] == ["report", "report#2"]
        assert isinstance(AsyncTimer(app), type(timer).__mro__[1])

        def stop_when_done() -> None:
            done.wait(20)
            timer.stop()

        from qtasks.testing import worker_thread

        with worker_thread(app):
            threading.Thread(target=stop_when_done, daemon=True).start()
            run_closing(asyncio.wait_for(timer.run(), 30), app)
        assert {(1, 2), (3, 4)} <= set(got) or len(got) >= 2
    finally:
        app.close()
