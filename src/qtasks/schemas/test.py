"""QTasks path ``qtasks.schemas.test``: ``TestConfig``, which components a test case swaps in.

Each flag names a component a QTasks test case replaces by an in-process one (the
test cases themselves are not part of qtasks yet); the presets are QTasks' own.
This is only the setting: nothing here swaps anything in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class TestConfig:
    """Which components a test case replaces; every flag is off by default."""

    __test__: ClassVar[bool] = False  # a settings class, not a pytest test class

    worker: bool = False
    broker: bool = False
    storage: bool = False
    global_config: bool = False
    plugins: bool = False

    @classmethod
    def full(cls) -> TestConfig:
        """Every component replaced, plugins included."""
        return cls(worker=True, broker=True, storage=True, global_config=True, plugins=True)

    @classmethod
    def only_worker(cls, plugins: bool = False) -> TestConfig:
        """Only the worker (and, if asked, the plugins)."""
        return cls(worker=True, plugins=plugins)

    @classmethod
    def only_broker(cls, plugins: bool = False) -> TestConfig:
        """Only the broker (and, if asked, the plugins)."""
        return cls(broker=True, plugins=plugins)

    @classmethod
    def full_broker(cls) -> TestConfig:
        """The broker with everything behind it: storage, global config, plugins."""
        return cls(broker=True, storage=True, global_config=True, plugins=True)


__all__ = ["TestConfig"]
