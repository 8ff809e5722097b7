"""When a schedule fires: crontab strings, fixed periods, and APScheduler's triggers.

A trigger answers one question, :meth:`Trigger.next_after`: the first fire time strictly
after a unix time. Every scheduler asks it for itself; they need not agree on phase (an
APScheduler ``IntervalTrigger`` starts when it was built), because the broker rule of
``core/unique.py`` lets one tick through per period whatever each scheduler computed.

Crontab strings (croniter) are read on the wall clock of ``tz`` (default UTC), the way
cron reads them, with daylight-saving time made explicit:

- a wall time that does not exist (the hour skipped in spring) fires at the instant its
  wall time would name on a clock not yet moved forward (02:30 -> 03:30 in Paris), once;
- a wall time that exists twice (the hour repeated in autumn) fires at its first
  occurrence only, so a daily 02:30 job runs once on both change days; except that an
  expression whose hour field is ``*`` (it runs every hour) also fires at the second
  occurrence, so an every-5-minutes job keeps its pace through the repeated hour.

Six fields put seconds first (``"*/10 * * * * *"``: every 10 seconds), as Quartz does.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from qtasks.core.errors import ConfigurationError


def _croniter() -> Any:
    """croniter, imported on first use: apps without crontab schedules (and every worker
    start) do not pay for it and python-dateutil."""
    import croniter  # type: ignore[import-untyped]

    return croniter


class Trigger(Protocol):
    def next_after(self, t: float) -> float | None:
        """The first fire time (unix seconds) strictly after ``t``; ``None``: never again."""

    def describe(self) -> str:
        """How operators see it (``qtasks schedule list``)."""


def zone(tz: str | tzinfo | None) -> tzinfo:
    """``tz`` as a time zone (an IANA name such as ``"Europe/Paris"``); ``None``: UTC."""
    if tz is None:
        return UTC
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(f"unknown time zone {tz!r}: {exc}") from None


class Cron:
    """A crontab expression on the wall clock of ``tz`` (see the module docstring)."""

    def __init__(self, expression: str, tz: str | tzinfo | None = None) -> None:
        if not isinstance(expression, str):
            raise ConfigurationError(f"a cron expression must be a string, not {expression!r}")
        fields = expression.split()
        if len(fields) not in (5, 6):
            raise ConfigurationError(
                f"cron expression {expression!r} must have 5 fields (minute hour day month "
                "weekday) or 6 (seconds first)"
            )
        self.expression = " ".join(fields)
        self._seconds = len(fields) == 6
        if not _croniter().croniter.is_valid(self.expression, second_at_beginning=self._seconds):
            raise ConfigurationError(f"invalid cron expression {expression!r}")
        self.tz = zone(tz)
        self._hourly = fields[2 if self._seconds else 1] == "*"

    def describe(self) -> str:
        return f"cron {self.expression!r} ({self.tz})"

    def _walls_after(self, wall: datetime) -> Any:
        return _croniter().croniter(self.expression, wall, second_at_beginning=self._seconds)

    def _instants(self, wall: datetime) -> list[float]:
        """The instants a wall time of the expression fires at (the DST rules above)."""
        first = wall.replace(tzinfo=self.tz, fold=0).timestamp()
        second = wall.replace(tzinfo=self.tz, fold=1).timestamp()
        if first < second and self._hourly:  # exists twice: an hourly job fires at both
            return [first, second]
        return [first]  # once; a skipped wall time at the clock not yet moved forward

    def _repeat_start(self, t: float, shift: float) -> datetime:
        """The first wall time of the repeated hour ``t`` is in the first pass of: that of
        the instant the clock goes back, found by bisection within ``shift`` after ``t``."""
        before = datetime.fromtimestamp(t, self.tz).utcoffset()
        low, high = math.floor(t), math.ceil(t + shift)  # offsets: before / after the change
        while high - low > 1:
            middle = (low + high) // 2
            if datetime.fromtimestamp(middle, self.tz).utcoffset() == before:
                low = middle
            else:
                high = middle
        return datetime.fromtimestamp(high, self.tz).replace(tzinfo=None)

    def next_after(self, t: float) -> float | None:
        local = datetime.fromtimestamp(t, self.tz)
        wall = local.replace(tzinfo=None)
        best: float | None = None
        if self._hourly and local.fold == 0:
            # In the first pass of a repeated hour, the second pass is still ahead: its
            # first tick is the first wall time of the expression from the hour's start.
            again = wall.replace(tzinfo=self.tz, fold=1)
            shift = (local.utcoffset() or timedelta()) - (again.utcoffset() or timedelta())
            if shift > timedelta():
                start = self._repeat_start(t, shift.total_seconds())
                candidate = self._walls_after(start - timedelta(seconds=1)).get_next(datetime)
                first, repeat = self._instants(candidate)[0], self._instants(candidate)[-1]
                if repeat != first and repeat > t:
                    best = repeat
        walls = self._walls_after(wall)
        try:
            for _ in range(100_000):  # a gap of an hour of every-second ticks: 3,600
                for instant in self._instants(walls.get_next(datetime)):
                    if instant > t:
                        return instant if best is None else min(best, instant)
        except _croniter().CroniterBadDateError:  # no date ever matches (30 February)
            pass
        return best


class Every:
    """Every ``seconds``, at the multiples of the period since ``anchor`` (default the
    Unix epoch, so every scheduler computes the same ticks)."""

    def __init__(self, seconds: float, anchor: float = 0.0) -> None:
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise ConfigurationError(f"every= must be a number of seconds, not {seconds!r}")
        if not math.isfinite(seconds) or seconds <= 0:
            raise ConfigurationError(f"every= must be a positive number of seconds, not {seconds}")
        self.seconds = float(seconds)
        self.anchor = float(anchor)

    def describe(self) -> str:
        return f"every {self.seconds:g} s"

    def next_after(self, t: float) -> float | None:
        n = math.floor((t - self.anchor) / self.seconds) + 1
        while self.anchor + n * self.seconds <= t:  # float rounding at an exact multiple
            n += 1
        return self.anchor + n * self.seconds


class APSchedulerTrigger:
    """An APScheduler 3 trigger (``CronTrigger``, ``IntervalTrigger``, ``DateTrigger``, or
    any object with its ``get_next_fire_time(previous, now)``)."""

    def __init__(self, trigger: Any) -> None:
        if not callable(getattr(trigger, "get_next_fire_time", None)):
            raise ConfigurationError(
                f"{trigger!r} is not a trigger: give a cron string, every= seconds, or an "
                "APScheduler 3 trigger (apscheduler.triggers.cron.CronTrigger, "
                "IntervalTrigger, DateTrigger; pip install 'qtasks[timers]')"
            )
        self.trigger = trigger

    def describe(self) -> str:
        return str(self.trigger)

    def next_after(self, t: float) -> float | None:
        now = datetime.fromtimestamp(t, UTC) + timedelta(microseconds=1)
        fire = self.trigger.get_next_fire_time(None, now)
        while fire is not None and fire.timestamp() <= t:  # a DateTrigger in the past
            fire = self.trigger.get_next_fire_time(fire, now)
        return None if fire is None else float(fire.timestamp())


def make_trigger(
    cron: str | None = None,
    every: float | timedelta | None = None,
    trigger: Any = None,
    tz: str | tzinfo | None = None,
) -> Trigger:
    """Exactly one of ``cron``, ``every`` and ``trigger`` (a string ``trigger`` is a cron
    expression too), as a :class:`Trigger`."""
    given = [name for name, v in (("cron", cron), ("every", every), ("trigger", trigger)) if v]
    if len(given) != 1:
        raise ConfigurationError(
            "a schedule needs exactly one of cron='* * * * *', every=<seconds> or trigger=, "
            f"got {', '.join(given) or 'none'}"
        )
    if isinstance(trigger, str):
        cron, trigger = trigger, None
    if cron is not None:
        return Cron(cron, tz)
    if tz is not None:
        raise ConfigurationError(
            "tz= applies to cron expressions; an APScheduler trigger "
            "takes its own timezone=, and every= has none"
        )
    if every is not None:
        return Every(every)  # type: ignore[arg-type]
    if isinstance(trigger, (Cron, Every, APSchedulerTrigger)):
        return trigger
    return APSchedulerTrigger(trigger)
