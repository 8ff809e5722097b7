"""A schedule as declared: which task, with what, when, and what to do with missed ticks."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from typing import Any, Literal, TypedDict, Unpack

from qtasks.core.errors import ConfigurationError
from qtasks.core.names import check_name
from qtasks.schedule.triggers import Trigger, make_trigger

CatchUp = Literal["latest", "all", "none"]
_CATCH_UPS = ("latest", "all", "none")

#: The prefix of every schedule's unique key (core/unique.py) in its task's queue.
KEY_PREFIX = "qtasks:schedule:"
#: Headers of the task a tick sends: the schedule's name and the tick (unix time).
SCHEDULE_HEADER = "qtasks-schedule"
TICK_HEADER = "qtasks-tick"


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """One periodic call of a task, fired once per tick by however many schedulers run."""

    name: str
    """Identifies the schedule across schedulers and restarts (default: the task name)."""
    task_name: str
    trigger: Trigger
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    priority: int | None = None
    catch_up: CatchUp = "latest"
    """Ticks missed while no scheduler ran: ``"latest"`` one run for them all, ``"all"``
    one run each (at most :data:`CATCH_UP_LIMIT`), ``"none"`` none."""
    jitter: float = 0.0
    """Each run may start up to this many seconds after its tick (spreads load)."""
    skip_if_running: bool = False
    """A tick whose previous run still waits or runs is skipped."""
    build: Any = field(default=None, compare=False, repr=False)
    """``(schedule, eta) -> Envelope``: how a run's message is made, when not as the app's
    ``add_task`` makes it (Django's tasks); ``None``: the app's way."""

    @property
    def key(self) -> str:
        return KEY_PREFIX + self.name


#: The most runs ``catch_up="all"`` makes for one outage.
CATCH_UP_LIMIT = 1000


class ScheduleOptions(TypedDict, total=False):
    """The keywords of ``app.schedule()`` (and of ``make_schedule``): see :class:`Schedule`."""

    name: str | None
    cron: str | None
    every: float | timedelta | None
    trigger: Any
    tz: str | tzinfo | None
    args: Any
    kwargs: dict[str, Any] | None
    priority: int | None
    catch_up: str
    jitter: float
    skip_if_running: bool


def make_schedule(
    task_name: str, *, build: Any = None, **options: Unpack[ScheduleOptions]
) -> Schedule:
    """Validate what a user declared (clear errors at declaration, not at the first tick)."""
    name = options.get("name")
    args = options.get("args", ())
    kwargs = options.get("kwargs")
    catch_up = options.get("catch_up", "latest")
    jitter = options.get("jitter", 0.0)
    check_name("task", task_name)
    schedule_name = check_name("schedule", name if name is not None else task_name)
    if isinstance(args, (str, bytes)) or not isinstance(args, (tuple, list)):
        raise ConfigurationError(f"schedule {schedule_name!r}: args must be a list or tuple")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise ConfigurationError(f"schedule {schedule_name!r}: kwargs must be a dict")
    if catch_up not in _CATCH_UPS:
        raise ConfigurationError(
            f"schedule {schedule_name!r}: catch_up must be one of {_CATCH_UPS}, not {catch_up!r}"
        )
    if (
        isinstance(jitter, bool)
        or not isinstance(jitter, (int, float))
        or not (math.isfinite(jitter) and jitter >= 0)
    ):
        raise ConfigurationError(
            f"schedule {schedule_name!r}: jitter must be seconds >= 0, not {jitter!r}"
        )
    try:
        when = make_trigger(
            cron=options.get("cron"),
            every=options.get("every"),
            trigger=options.get("trigger"),
            tz=options.get("tz"),
        )
    except ConfigurationError as exc:
        raise ConfigurationError(f"schedule {schedule_name!r}: {exc}") from None
    return Schedule(
        name=schedule_name,
        task_name=task_name,
        trigger=when,
        args=tuple(args),
        kwargs=dict(kwargs or {}),
        priority=options.get("priority"),
        catch_up=catch_up,  # type: ignore[arg-type]
        jitter=float(jitter),
        skip_if_running=bool(options.get("skip_if_running", False)),
        build=build,
    )
