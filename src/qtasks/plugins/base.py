"""QTasks' ``BasePlugin``: what ``app.add_plugin(plugin, ...)`` takes.

A plugin answers *triggers*, named points the app, the worker and the task executor
pass through (the table is in ``docs/extending/plugins.md``). Subclass and implement
``trigger(name, **kwargs)``, ``start()`` and ``stop()``; each may be a plain method
(written for QTasks' ``QueueTasks``) or a coroutine (for its ``AsyncQueueTasks``):
the engine awaits whichever it gets. ``trigger`` returns ``None`` (nothing to change)
or a dict whose keys replace the trigger's values (``{"args": [...], "kw": {...}}``,
``{"result": ...}``, ``{"task": ...}``; ``"plugin_cache"`` is kept for the plugin).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable
from typing import Any


class BasePlugin(ABC):
    """Base of every plugin: a ``name`` (it keys the plugin's cache) and three methods."""

    def __init__(self, name: str | None = None, *args: Any, **kwargs: Any) -> None:
        """
        :param name: the plugin's name; a named plugin's ``plugin_cache`` (what a trigger
            returned under that key) is handed back to its next triggers.
        """
        self.name: str | None = name
        self.plugin_cache: dict[str, Any] = {}

    @abstractmethod
    def trigger(
        self, name: str, *args: Any, **kwargs: Any
    ) -> dict[str, Any] | Awaitable[dict[str, Any] | None] | None:
        """Called at trigger ``name`` with its keyword arguments; returns ``None`` or a
        dict of replacements."""

    @abstractmethod
    def start(self, *args: Any, **kwargs: Any) -> Awaitable[None] | None:
        """Called once when a worker of the app starts, before it claims tasks."""

    @abstractmethod
    def stop(self, *args: Any, **kwargs: Any) -> Awaitable[None] | None:
        """Called once when that worker stops, after its last task."""
