"""``Depends`` (a parameter's value built by a function, around a task) and its scopes."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from qtasks.core.errors import ConfigurationError


class ScopeEnum(StrEnum):
    """How long a dependency's value lives (QTasks' names)."""

    TASK = "task"
    """Built for each run, torn down when the run ends (also when it fails or times out)."""
    WORKER = "worker"
    """Built on first use in a worker, shared by its runs, torn down when the worker stops."""
    BROKER = "broker"
    """Lives as long as the worker's broker connection: the same lifetime as ``WORKER``."""
    STORAGE = "storage"
    """Our broker is the storage too: the same lifetime as ``WORKER``."""
    GLOBAL_CONFIG = "global_config"
    """Our broker holds the global config too: the same lifetime as ``WORKER``."""


#: Scopes sharing one value per worker (everything but ``task``).
WORKER_LIFETIME = frozenset(s.value for s in ScopeEnum if s is not ScopeEnum.TASK)


class DependsError(ConfigurationError):
    """A task's dependencies cannot be resolved: a cycle, a worker-lived dependency needing a
    per-run one, or a dependency parameter nothing fills."""


class Depends:
    """Marks a parameter whose value ``func`` builds in the worker (``db=Depends(get_db)`` or
    ``db: Annotated[DB, Depends(get_db)]``); the caller never passes it."""

    #: Read (by duck type) by the worker's argument binding: this parameter is not the caller's.
    __qtasks_injected__ = True

    __slots__ = ("func", "scope")

    def __init__(self, func: Callable[..., Any], scope: ScopeEnum | str = ScopeEnum.TASK) -> None:
        """
        :param func: builds the value: a function or async function (its return value), a
            generator or async generator (the value it yields; the code after ``yield`` is the
            teardown), a context manager class or ``@(async)contextmanager`` function (entered
            and exited). Its own ``Depends`` / ``State`` parameters are resolved first.
        :param scope: a :class:`ScopeEnum` or its value; ``"task"`` by default.
        """
        if not callable(func):
            raise DependsError(f"Depends() needs a callable, got {func!r}")
        try:
            value = ScopeEnum(scope.value if isinstance(scope, ScopeEnum) else scope).value
        except ValueError:
            names = ", ".join(repr(s.value) for s in ScopeEnum)
            raise DependsError(f"unknown Depends scope {scope!r}: use one of {names}") from None
        self.func = func
        self.scope: str = value
        """The scope's value (``"task"``, ``"worker"``...), as QTasks keeps it."""

    @property
    def lifetime(self) -> str:
        """``"task"`` or ``"worker"`` (broker, storage and global_config live as a worker)."""
        return "worker" if self.scope in WORKER_LIFETIME else "task"

    def __repr__(self) -> str:
        name = getattr(self.func, "__qualname__", repr(self.func))
        return f"Depends({name}, scope={self.scope!r})"
