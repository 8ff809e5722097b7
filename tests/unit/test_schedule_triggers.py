"""Triggers of schedules: crontab strings across daylight-saving changes, periods,
APScheduler triggers, and the errors of bad declarations."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from qtasks import QueueTasks
from qtasks.core.errors import ConfigurationError
from qtasks.schedule.scheduler import Scheduler
from qtasks.schedule.triggers import Cron, Every, make_trigger

PARIS = ZoneInfo("Europe/Paris")


def fires(trigger: Cron | Every, start: datetime, end: datetime | float) -> list[datetime]:
    """Fire times from ``start`` to ``end`` (a datetime, or real seconds after ``start``:
    aware datetime arithmetic is wall-clock arithmetic)."""
    t = start.timestamp()
    last = t + end if isinstance(end, float) else end.timestamp()
    out = []
    while (t := trigger.next_after(t)) is not None and t <= last:  # type: ignore[assignment]
        out.append(datetime.fromtimestamp(t, PARIS))
    return out


def test_a_daily_job_in_the_skipped_hour_runs_once_on_the_spring_change_day() -> None:
    days = fires(
        Cron("30 2 * * *", "Europe/Paris"),
        datetime(2026, 3, 27, tzinfo=PARIS),
        datetime(2026, 3, 31, tzinfo=PARIS),
    )
    assert [d.isoformat() for d in days] == [
        "2026-03-27T02:30:00+01:00",
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:30:00+02:00",  # 02:30 does not exist that day: the clock not yet moved
        "2026-03-30T02:30:00+02:00",
    ]


def test_a_daily_job_in_the_repeated_hour_runs_once_on_the_autumn_change_day() -> None:
    days = fires(
        Cron("30 2 * * *", "Europe/Paris"),
        datetime(2026, 10, 24, tzinfo=PARIS),
        datetime(2026, 10, 27, tzinfo=PARIS),
    )
    assert [d.isoformat() for d in days] == [
        "2026-10-24T02:30:00+02:00",
        "2026-10-25T02:30:00+02:00",  # the first 02:30 only
        "2026-10-26T02:30:00+01:00",
    ]


def test_an_hourly_expression_keeps_its_pace_through_the_repeated_hour() -> None:
    start = datetime(2026, 10, 25, 1, 50, tzinfo=PARIS)
    got = fires(Cron("*/15 * * * *", "Europe/Paris"), start, 2.5 * 3600)
    gaps = {b.timestamp() - a.timestamp() for a, b in itertools.pairwise(got)}
    assert gaps == {900.0}  # every 15 real minutes, both passes of 02:xx included
    assert len(got) == 10


def test_an_hourly_expression_skips_the_missing_hour_without_doubling() -> None:
    start = datetime(2026, 3, 29, 1, 30, tzinfo=PARIS)
    got = fires(Cron("*/15 * * * *", "Europe/Paris"), start, 1.5 * 3600)
    assert [d.strftime("%H:%M%z") for d in got] == [
        "01:45+0100",
        "03:00+0200",
        "03:15+0200",
        "03:30+0200",
        "03:45+0200",
        "04:00+0200",
    ]


def test_six_fields_put_seconds_first_and_utc_is_the_default() -> None:
    cron = Cron("*/20 * * * * *")
    assert cron.next_after(1_700_000_000.0) == 1_700_000_000.0 + 20
    assert Cron("0 3 * * *").next_after(0.0) == 3 * 3600


def test_every_ticks_on_multiples_of_its_period() -> None:
    every = Every(10)
    assert every.next_after(1_700_000_000.0) == 1_700_000_010.0
    assert every.next_after(1_700_000_003.5) == 1_700_000_010.0
    assert Every(timedelta(minutes=1)).next_after(59.0) == 60.0  # type: ignore[arg-type]


def test_apscheduler_triggers_are_used_as_they_are() -> None:
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.date import DateTrigger

    cron = make_trigger(trigger=CronTrigger(hour=23, minute=59, timezone="UTC"))
    assert cron.next_after(0.0) == 23 * 3600 + 59 * 60
    once = make_trigger(trigger=DateTrigger(run_date=datetime(2030, 1, 1, tzinfo=UTC)))
    fire = once.next_after(0.0)
    assert fire == datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    assert once.next_after(fire) is None


@pytest.mark.parametrize(
    "declaration",
    [
        {"cron": "61 * * * *"},
        {"cron": "* * *"},
        {"cron": "0 3 * * *", "tz": "Mars/Olympus"},
        {"every": 0},
        {"every": -5},
        {"trigger": object()},
        {},
        {"cron": "* * * * *", "every": 5},
        {"every": 5, "catch_up": "sometimes"},
        {"every": 5, "jitter": -1},
        {"every": 5, "args": "abc"},
    ],
)
def test_bad_schedules_are_refused_when_declared(declaration: dict[str, object]) -> None:
    app = QueueTasks(broker_url="memory://bad-schedules")
    with pytest.raises(ConfigurationError):
        app.schedule("t", **declaration)  # type: ignore[arg-type]
    assert app.schedules == {}


def test_a_task_declared_with_a_bad_schedule_is_not_registered() -> None:
    app = QueueTasks(broker_url="memory://bad-task-schedule")
    with pytest.raises(ConfigurationError):

        @app.task(schedule="not cron")
        def nightly() -> None:
            return None

    assert "nightly" not in app.tasks


class _Clock:
    def __init__(self, start: float, until: float) -> None:
        self.now, self.until = start, until

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float, stop: asyncio.Event) -> None:
        await asyncio.sleep(0)
        self.now = min(self.now + max(seconds, 0.0), self.until)
        if self.now >= self.until:
            stop.set()


def test_a_scheduler_runs_a_daily_job_once_on_both_change_days() -> None:
    for start in (
        datetime(2026, 3, 28, 12, tzinfo=PARIS),
        datetime(2026, 10, 24, 12, tzinfo=PARIS),
    ):
        app = QueueTasks(broker_url=f"memory://dst-{start.month}")
        app.schedule("report", cron="30 2 * * *", tz="Europe/Paris")
        clock = _Clock(start.timestamp(), (start + timedelta(days=2)).timestamp())
        scheduler = Scheduler(app, list(app.schedules.values()), clock=clock)
        asyncio.run(scheduler.run())
        assert scheduler.sent == 2  # the change day and the next
        app.close()
