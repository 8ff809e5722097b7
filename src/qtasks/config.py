"""``QueueConfig``: the app's settings, each overridable by a ``QTASKS_<FIELD>`` variable."""

from __future__ import annotations

import difflib
import logging
import os
import warnings
from dataclasses import dataclass, fields
from typing import Any

from qtasks.core.errors import ConfigurationError
from qtasks.core.records import Retention

_NONE_WORDS = {"", "none", "null"}
_BOOL_WORDS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}
#: Variables with the prefix that qtasks reads elsewhere (the part after the prefix), and
#: prefixes of families of them (its test suites, the Django contrib's).
_OTHER_VARIABLES = frozenset({"BROKER_URL", "APP"})
_OTHER_FAMILIES = ("TEST_", "DJANGO_")
#: How alike (difflib's ratio) a variable must be to a setting's to count as a misspelling.
_CLOSE = 0.8
#: Variables warned about already: each is reported once per process.
_warned: set[str] = set()


class UnknownSettingWarning(UserWarning):
    """An environment variable with the config's prefix looks like a misspelt setting."""


@dataclass(kw_only=True)
class QueueConfig:
    """Settings of one app. Read once from the environment when the app is created; a
    variable that looks like a misspelt setting warns (``UnknownSettingWarning``)."""

    max_tasks_process: int = 10
    """How many tasks one worker process runs at once (its thread pool size for sync tasks)."""
    prefetch: int | None = None
    """Most tasks a worker claims ahead of its free slots (it holds about 50 ms of work
    within this cap); ``None``: ``max(100, max_tasks_process)``; 0: never ahead."""
    task_default_priority: int = 0
    """Priority of a task declared without one; larger runs first."""
    default_queue: str = "default"
    """Queue of tasks declared without one, and the queue workers listen on by default."""
    result_ttl: float | None = 86400.0
    """Seconds a finished task's result is kept; ``None`` keeps it forever."""
    dead_letter_ttl: float | None = 7 * 86400.0
    """Seconds a failed task (a dead letter: list, requeue or purge it) is kept; ``None``
    keeps it until purged."""
    lease_seconds: float = 10.0
    """Seconds a claim stays reserved without renewal: a dead worker's tasks rerun after this."""
    max_attempts: int = 5
    """Deliveries after which a task whose workers keep dying is failed, not run again."""
    grace_period: float = 30.0
    """On SIGTERM, seconds to let running tasks finish before releasing them to the queue."""
    retry_backoff: float = 1.0
    """Base delay of retries, doubled per retry, with full jitter."""
    retry_backoff_max: float = 300.0
    """Longest delay between retries."""
    max_message_bytes: int | None = 16 * 1024 * 1024
    """Largest message (a task's encoded call) a caller may enqueue; larger ones raise
    ``ValueError`` in the caller. ``None``: no limit."""
    logs_default_level_server: int = logging.INFO
    logs_default_level_client: int = logging.INFO
    environ_prefix: str = "QTASKS_"

    def __post_init__(self) -> None:
        self.apply_environment(os.environ)
        self.validate()

    def apply_environment(self, environ: Any) -> None:
        """Set fields still at their default from ``<prefix><FIELD>`` variables.

        A value given in code wins over the environment; the environment wins over
        the default (``QTASKS_RESULT_TTL=none``, ``QTASKS_MAX_TASKS_PROCESS=4``).
        """
        explicit: frozenset[str] = getattr(self, "_explicit", frozenset())
        self._warn_misspelt(environ)
        for f in fields(self):
            if f.name == "environ_prefix" or f.name in explicit:
                continue
            variable = f"{self.environ_prefix}{f.name.upper()}"
            raw = environ.get(variable)
            if raw is not None:
                setattr(self, f.name, _coerce(variable, str(f.type), raw))

    def _warn_misspelt(self, environ: Any) -> None:
        """Warn (``UnknownSettingWarning``, once per variable and process) about a
        ``<prefix>X`` variable that is no setting but close to one, naming the setting.

        Only close misspellings are reported (``difflib`` ratio >= 0.8, as
        ``QTASKS_MAX_TASK_PROCESS`` is to ``QTASKS_MAX_TASKS_PROCESS``): other tools may
        have variables of their own with the prefix, and those must not be noise. The
        variables qtasks reads elsewhere (``QTASKS_BROKER_URL``, ``QTASKS_APP``,
        ``QTASKS_TEST_*``, ``QTASKS_DJANGO_*``) are never reported.
        """
        prefix = self.environ_prefix
        if not prefix:
            return  # every variable would be a candidate: no way to tell ours apart
        names = [f.name.upper() for f in fields(self) if f.name != "environ_prefix"]
        for variable in list(environ):
            if not variable.startswith(prefix) or variable in _warned:
                continue
            rest = variable[len(prefix) :]
            if rest in names or rest in _OTHER_VARIABLES or rest.startswith(_OTHER_FAMILIES):
                continue
            close = difflib.get_close_matches(rest, names, n=1, cutoff=_CLOSE)
            if close:
                _warned.add(variable)
                warnings.warn(
                    f"environment variable {variable} is not a qtasks setting and is "
                    f"ignored; did you mean {prefix}{close[0]}?",
                    UnknownSettingWarning,
                    stacklevel=2,
                )

    @property
    def retention(self) -> Retention:
        """How long finished records are kept, as brokers take it."""
        return Retention(result_ttl=self.result_ttl, dead_ttl=self.dead_letter_ttl)

    def validate(self) -> None:
        """Reject values that cannot work, with the field named."""
        if self.max_tasks_process < 1:
            raise ConfigurationError("max_tasks_process must be >= 1")
        if self.prefetch is not None and self.prefetch < 0:
            raise ConfigurationError("prefetch must be >= 0")
        if self.lease_seconds <= 0:
            raise ConfigurationError("lease_seconds must be positive")
        if self.max_attempts < 1:
            raise ConfigurationError("max_attempts must be >= 1")
        if self.max_message_bytes is not None and self.max_message_bytes < 1:
            raise ConfigurationError("max_message_bytes must be >= 1, or None for no limit")
        for name in ("result_ttl", "dead_letter_ttl"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigurationError(f"{name} must be positive, or None to keep them")
        for name in ("grace_period", "retry_backoff", "retry_backoff_max"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"{name} must be >= 0")
        if not self.default_queue:
            raise ConfigurationError("default_queue must be a non-empty string")


def _remember_explicit_fields(cls: type[QueueConfig]) -> None:
    """Wrap the generated ``__init__`` so the config knows which fields the caller gave:
    those win over the environment, even when equal to the default."""
    generated = cls.__init__

    def __init__(self: QueueConfig, **values: Any) -> None:
        object.__setattr__(self, "_explicit", frozenset(values))
        generated(self, **values)

    __init__.__doc__ = generated.__doc__
    setattr(cls, "__init__", __init__)  # noqa: B010 - assigning the method itself


_remember_explicit_fields(QueueConfig)


def _coerce(variable: str, type_name: str, raw: str) -> Any:
    text = raw.strip()
    try:
        if "None" in type_name and text.lower() in _NONE_WORDS:
            return None
        if type_name.startswith("int"):
            if text.upper() in logging.getLevelNamesMapping():
                return logging.getLevelNamesMapping()[text.upper()]
            return int(text)
        if type_name.startswith("float"):
            return float(text)
        if type_name.startswith("bool"):
            return _BOOL_WORDS[text.lower()]
    except (ValueError, KeyError) as exc:
        raise ConfigurationError(f"{variable}={raw!r} is not a valid {type_name}") from exc
    return text
