"""The ``OPTIONS`` of a ``QTasksBackend``, read and checked once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qtasks.core.errors import ConfigurationError

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
}


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
    )
