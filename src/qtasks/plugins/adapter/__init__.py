"""QTasks plugins on our hook chain: ``app.add_plugin(plugin, trigger_names, component)``.

One :class:`~qtasks.plugins.adapter.hook.PluginHook` per app (installed with its first
plugin) fires the triggers; :mod:`~qtasks.plugins.adapter.registry` decides which
plugin hears which trigger and merges what they return.
"""

from __future__ import annotations

from typing import Any

from qtasks.plugins.adapter.hook import PluginHook
from qtasks.plugins.adapter.registry import COMPONENTS, PluginRegistry, check_component


def add_plugin(
    app: Any,
    plugin: Any,
    trigger_names: list[str] | None = None,
    component: str | None = None,
) -> None:
    """Register ``plugin`` on ``app`` for ``trigger_names`` (``None``: every trigger) of
    ``component`` (``None``: the app, hearing the triggers it names wherever they fire)."""
    check_component(component)
    found = app.hooks.of_type(PluginHook)
    hook: PluginHook = found[0] if found else app.add_hook(PluginHook(app))
    hook.registry.add(plugin, trigger_names, component)


__all__ = ["COMPONENTS", "PluginHook", "PluginRegistry", "add_plugin"]
