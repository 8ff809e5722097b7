"""QTasks' ``qtasks.stats``: ``SyncStats(app).inspect().app()`` / ``.task(name)`` /
``.tasks()``, and ``await AsyncStats(app).inspect()`` for ``qtasks.asyncio`` apps.
Inspecting reads the app in memory; ``inspect()`` first fires the ``stats_inspect``
trigger of the plugins given to the stats object (QTasks' ``plugins=``)."""

from __future__ import annotations

from typing import Any

from qtasks.plugins.adapter import PluginRegistry
from qtasks.stats.inspect import InspectStats


class _Stats:
    def __init__(self, app: Any, plugins: dict[str, list[Any]] | None = None) -> None:
        self.app = app
        self.plugins = PluginRegistry()
        for trigger, found in (plugins or {}).items():
            for plugin in found:
                self.plugins.add(plugin, None if trigger == "Globals" else [trigger], None)

    def add_plugin(self, plugin: Any, trigger_names: list[str] | None = None) -> None:
        """Register a QTasks plugin on this stats object (``None``: every trigger)."""
        self.plugins.add(plugin, trigger_names, None)

    async def _inspect(self) -> InspectStats:
        if self.plugins.listens("stats_inspect"):
            await self.plugins.fire("stats_inspect", stats=self)
        return InspectStats(self.app)


class SyncStats(_Stats):
    """Statistics of a ``qtasks.QueueTasks`` app."""

    def inspect(self) -> InspectStats:
        """What the app is made of: ``.app()``, ``.task(name)``, ``.tasks(*names)``."""
        inspected: InspectStats = self.app._sync(self._inspect())
        return inspected


class AsyncStats(_Stats):
    """Statistics of a ``qtasks.asyncio.QueueTasks`` app."""

    async def inspect(self) -> InspectStats:
        """What the app is made of: ``.app()``, ``.task(name)``, ``.tasks(*names)``."""
        return await self._inspect()


__all__ = ["AsyncStats", "InspectStats", "SyncStats"]
