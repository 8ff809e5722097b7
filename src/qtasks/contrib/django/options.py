"""The ``OPTIONS`` of a ``QTasksBackend``, read and checked once."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qtasks.core.errors import ConfigurationError
from qtasks.schedule.spec import make_schedule

#: Every key the backend understands, with what it means (docs/django.md repeats this).
KNOWN = {
    "broker_url": "transport URL (default QTASKS_BROKER_URL, else sqlite:///qtasks.sqlite3); "
    "django://<alias> puts the queue in that Django PostgreSQL database",
    "app": "dotted path of a QueueTasks app whose broker (and tasks) to share",
    "retry": "times a failing task is retried (default 0)",
    "retry_on": "dotted paths of the exception classes retried (default: any Exception)",
    "retry_backoff": "base delay in seconds of the exponential backoff (default 1.0)",
    "retry_backoff_max": "longest delay between retries (default 300)",
    "max_time": "time limit per run in seconds (default none)",
    "result_ttl": "seconds results are kept (default 86400; None keeps them)",
    "lease_seconds": "a dead worker's tasks run again after this (default 10)",
    "enqueue_on_commit": "inside transaction.atomic(), send on commit (default True)",
    "database": "database alias whose transactions enqueue_on_commit follows (default 'default')",
    "task_modules": "dotted packages whose tasks workers may import and run, besides those of "
    "INSTALLED_APPS (default none)",
    "unique": "tasks enqueued at most once at a time: {module path: seconds held after enqueue} "
    "or a list of module paths (0: held while the task waits or runs)",
    "schedule": "periodic tasks: {name: {'task': module path, 'cron': ... or 'every': seconds, "
    "'args', 'kwargs', 'tz', 'catch_up', 'jitter', 'skip_if_running'}}",
}

#: The keys of one ``OPTIONS["schedule"]`` entry (``make_schedule``'s keywords, and the task).
SCHEDULE_KEYS = (
    "task",
    "cron",
    "every",
    "tz",
    "args",
    "kwargs",
    "catch_up",
    "jitter",
    "skip_if_running",
)


@dataclass(frozen=True, slots=True)
class ScheduleOption:
    """One ``OPTIONS["schedule"]`` entry, checked; ``schedules.py`` makes its Schedule."""

    name: str
    task: str
    keywords: tuple[tuple[str, Any], ...]
    """``make_schedule``'s keywords as given (a tuple: the options' repr keys the app)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendOptions:
    broker_url: str | None = None
    app: str | None = None
    retry: int = 0
    retry_on: tuple[str, ...] = ()
    retry_backoff: float = 1.0
    retry_backoff_max: float = 300.0
    max_time: float | None = None
    result_ttl: float | None = 86400.0
    lease_seconds: float = 10.0
    enqueue_on_commit: bool = True
    database: str = "default"
    task_modules: tuple[str, ...] = ()
    unique: tuple[tuple[str, float], ...] = ()
    """(module path, seconds held after enqueue) of each unique task."""
    schedule: tuple[ScheduleOption, ...] = ()


def _number(
    options: Mapping[str, Any], key: str, default: float | None, *, allow_none: bool
) -> float | None:
    value = options.get(key, default)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigurationError(f"OPTIONS[{key!r}] must be a number >= 0, got {value!r}")
    return float(value)


def parse_options(options: Mapping[str, Any]) -> BackendOptions:
    """Validate ``OPTIONS``; any problem is a :class:`ConfigurationError` naming the key."""
    unknown = sorted(set(options) - set(KNOWN))
    if unknown:
        raise ConfigurationError(
            f"unknown OPTIONS {', '.join(map(repr, unknown))}; known: {', '.join(sorted(KNOWN))}"
        )
    if options.get("app"):
        owned = sorted({"broker_url", "result_ttl", "lease_seconds"} & set(options))
        if owned:
            raise ConfigurationError(
                f"with OPTIONS 'app', {', '.join(map(repr, owned))} come from that app's "
                "broker_url and config: set them there"
            )
    for key in ("broker_url", "app", "database"):
        if key in options and not isinstance(options[key], str):
            raise ConfigurationError(f"OPTIONS[{key!r}] must be a string")
    retry = options.get("retry", 0)
    if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
        raise ConfigurationError(f"OPTIONS['retry'] must be an integer >= 0, got {retry!r}")
    retry_on = options.get("retry_on", ())
    if isinstance(retry_on, str) or not all(isinstance(p, str) for p in retry_on):
        raise ConfigurationError("OPTIONS['retry_on'] must be a list of dotted exception paths")
    task_modules = options.get("task_modules", ())
    if isinstance(task_modules, str) or not all(isinstance(p, str) for p in task_modules):
        raise ConfigurationError("OPTIONS['task_modules'] must be a list of dotted packages")
    on_commit = options.get("enqueue_on_commit", True)
    if not isinstance(on_commit, bool):
        raise ConfigurationError("OPTIONS['enqueue_on_commit'] must be True or False")
    max_time = _number(options, "max_time", None, allow_none=True)
    lease = _number(options, "lease_seconds", 10.0, allow_none=False)
    if max_time == 0 or lease == 0:
        raise ConfigurationError("OPTIONS 'max_time' and 'lease_seconds' must be positive")
    unique = _unique(options.get("unique", ()))
    if unique and str(options.get("broker_url") or "").startswith("django://"):
        raise ConfigurationError(
            "OPTIONS['unique'] is not supported with a django:// broker_url: a unique task "
            "takes two statements in a transaction of the queue's own, and a django:// "
            "enqueue is one INSERT in the caller's transaction; give the same database as a "
            "postgresql:// broker_url"
        )
    return BackendOptions(
        broker_url=options.get("broker_url"),
        app=options.get("app"),
        retry=retry,
        retry_on=tuple(retry_on),
        retry_backoff=_number(options, "retry_backoff", 1.0, allow_none=False) or 0.0,
        retry_backoff_max=_number(options, "retry_backoff_max", 300.0, allow_none=False) or 0.0,
        max_time=max_time,
        result_ttl=_number(options, "result_ttl", 86400.0, allow_none=True),
        lease_seconds=lease or 10.0,
        enqueue_on_commit=on_commit,
        database=options.get("database", "default"),
        task_modules=tuple(task_modules),
        unique=unique,
        schedule=_schedules(options.get("schedule", {})),
    )


def _task_path(value: object, where: str) -> str:
    if not isinstance(value, str) or "." not in value.strip(".") or value != value.strip():
        raise ConfigurationError(
            f"{where} must be the dotted module path of a Django task "
            f"('myapp.tasks.report'), got {value!r}"
        )
    return value


def _unique(value: object) -> tuple[tuple[str, float], ...]:
    """``{path: seconds}`` or ``[path, ...]`` (0 s each), as (path, seconds) pairs."""
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, list | tuple):
        pairs = [(path, 0.0) for path in value]
    else:
        raise ConfigurationError(
            "OPTIONS['unique'] must be a dict of {task module path: seconds} or a list of "
            f"task module paths, got {type(value).__name__}"
        )
    checked: dict[str, float] = {}
    for path, seconds in pairs:
        _task_path(path, "each task of OPTIONS['unique']")
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise ConfigurationError(
                f"OPTIONS['unique'][{path!r}] must be the seconds (a finite number >= 0) the "
                f"task's key stays held after enqueue, got {seconds!r}"
            )
        if path in checked:
            raise ConfigurationError(f"OPTIONS['unique'] lists {path!r} twice")
        checked[path] = float(seconds)
    return tuple(checked.items())


def _schedules(value: object) -> tuple[ScheduleOption, ...]:
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            "OPTIONS['schedule'] must be a dict of {name: {'task': ..., 'cron': ...}}, got "
            f"{type(value).__name__}"
        )
    found = []
    for name, spec in value.items():
        where = f"OPTIONS['schedule'][{name!r}]"
        if not isinstance(name, str):
            raise ConfigurationError(f"{where}: a schedule's name must be a string")
        if not isinstance(spec, Mapping):
            raise ConfigurationError(
                f"{where} must be a dict such as {{'task': 'myapp.tasks.report', "
                f"'cron': '0 3 * * *'}}, got {type(spec).__name__}"
            )
        unknown = sorted(set(spec) - set(SCHEDULE_KEYS), key=str)
        if unknown:
            raise ConfigurationError(
                f"{where}: unknown keys {', '.join(map(repr, unknown))}; known: "
                f"{', '.join(SCHEDULE_KEYS)}"
            )
        task = _task_path(spec.get("task"), f"{where}['task']")
        if not isinstance(spec.get("skip_if_running", False), bool):
            raise ConfigurationError(f"{where}['skip_if_running'] must be True or False")
        keywords = tuple((key, spec[key]) for key in SCHEDULE_KEYS[1:] if key in spec)
        try:  # every rule of make_schedule (a cron, a time zone, catch_up), now
            make_schedule(task, name=name, **dict(keywords))
        except ConfigurationError as exc:
            reason = str(exc).removeprefix(f"schedule {name!r}: ")
            raise ConfigurationError(f"{where}: {reason}") from None
        found.append(ScheduleOption(name=name, task=task, keywords=keywords))
    return tuple(found)
