"""The plugins an app was given, which trigger reaches which, and QTasks' merge rules.

Each plugin is registered for a *component* (``None``: the app itself; ``"worker"``,
``"broker"``, ``"storage"``, ``"global_config"``) and trigger names (``None``: all of
them, QTasks' ``"Globals"``). A trigger belongs to the component its name starts
with (``task_executor_*`` to the worker, ``qtasks_*`` and ``starter_*`` to the app); a
plugin of a component hears only that component's triggers, a plugin of the app
(``component=None``) hears every trigger it names, wherever it fires.

At one trigger, the plugins naming it run first, then the global ones, each in the
order added. Each gets the trigger's keyword arguments as the previous plugins left
them: a returned dict replaces, for the next plugins and for the caller, the values
under its keys (the last plugin returning a key wins); ``None`` values for ``args``
and ``kw`` are ignored (QTasks: "the last value or the very first value is used").
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from qtasks.core.errors import ConfigurationError, HookError, QTasksError

log = logging.getLogger("qtasks.plugins")

#: QTasks' components for ``add_plugin(component=...)`` (``None``: the app).
COMPONENTS: tuple[str | None, ...] = (None, "worker", "broker", "storage", "global_config")

#: Trigger name prefix -> the component that fires it.
_PREFIXES = (
    ("qtasks_", None),
    ("starter_", None),
    ("task_executor_", "worker"),
    ("worker_", "worker"),
    ("broker_", "broker"),
    ("storage_", "storage"),
    ("global_config_", "global_config"),
)

#: Keys whose ``None`` means "unchanged" (QTasks' ``args`` / ``kw`` chaining).
_KEEP_ON_NONE = ("args", "kw")


def trigger_component(trigger: str) -> str | None:
    """The component firing ``trigger`` (``None``: the app)."""
    for prefix, component in _PREFIXES:
        if trigger.startswith(prefix):
            return component
    return None


def check_component(component: str | None) -> None:
    if component not in COMPONENTS:
        valid = ", ".join(repr(c) for c in COMPONENTS)
        raise ConfigurationError(f"unknown plugin component {component!r}; valid: {valid}")


@dataclass(frozen=True, slots=True)
class Registration:
    plugin: Any
    triggers: frozenset[str] | None
    """``None``: every trigger of the component."""
    component: str | None

    def hears(self, trigger: str) -> bool:
        return self.component is None or trigger_component(trigger) == self.component


class PluginRegistry:
    """An app's plugins and their ``plugin_cache``; fires triggers."""

    def __init__(self) -> None:
        self._registrations: list[Registration] = []
        self._cache: dict[str, Any] = {}

    def add(self, plugin: Any, trigger_names: list[str] | None, component: str | None) -> None:
        check_component(component)
        if not callable(getattr(plugin, "trigger", None)):
            raise TypeError(f"a plugin needs a trigger(name, **kwargs) method, got {plugin!r}")
        names = frozenset(trigger_names) if trigger_names else None  # [] too: QTasks
        self._registrations.append(Registration(plugin, names, component))

    def plugins(self) -> list[Any]:
        """Every plugin once, in the order first added."""
        seen: dict[int, Any] = {}
        for registration in self._registrations:
            seen.setdefault(id(registration.plugin), registration.plugin)
        return list(seen.values())

    def _for(self, trigger: str) -> Iterator[Any]:
        named = [r for r in self._registrations if r.triggers is not None and trigger in r.triggers]
        for registration in named:
            if registration.hears(trigger):
                yield registration.plugin
        for registration in self._registrations:
            if registration.triggers is None and registration.hears(trigger):
                yield registration.plugin

    def listens(self, trigger: str) -> bool:
        return next(self._for(trigger), None) is not None

    async def fire(self, trigger: str, bare: str | None = None, /, **kwargs: Any) -> dict[str, Any]:
        """Run ``trigger`` through its plugins; returns the replacements they made (empty:
        none). ``bare``: the key a plugin's non-dict return value is taken for."""
        changes: dict[str, Any] = {}
        current = dict(kwargs)
        for plugin in self._for(trigger):
            name = getattr(plugin, "name", None)
            call = dict(current)
            cached = self._cache.get(name) if name else None
            if cached:
                call["plugin_cache"] = cached
            returned = await _call(plugin, trigger, call)
            if returned is None:
                continue
            if not isinstance(returned, dict):
                if bare is None:
                    raise HookError(
                        f"plugin {_label(plugin)} returned {type(returned).__name__} from "
                        f"trigger {trigger}; a trigger returns a dict or None"
                    )
                returned = {bare: returned}
            returned = dict(returned)
            if "plugin_cache" in returned:
                cache = returned.pop("plugin_cache")
                if name:
                    self._cache[name] = cache
            for key, value in returned.items():
                if value is None and key in _KEEP_ON_NONE:
                    continue
                changes[key] = value
                if key in current:
                    current[key] = value
        return changes


async def _call(plugin: Any, trigger: str, kwargs: dict[str, Any]) -> Any:
    """``plugin.trigger(trigger, **kwargs)``, awaited if it is a coroutine; its failure as
    a :class:`HookError` naming the plugin and the trigger (ours pass through)."""
    try:
        returned = plugin.trigger(trigger, **kwargs)
        if inspect.isawaitable(returned):
            returned = await returned
    except QTasksError:
        raise
    except Exception as exc:
        raise HookError(
            f"plugin {_label(plugin)} failed in trigger {trigger}: {type(exc).__name__}: {exc}"
        ) from exc
    return returned


async def maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _label(plugin: Any) -> str:
    name = getattr(plugin, "name", None)
    kind = type(plugin).__qualname__
    return f"{kind} ({name!r})" if name else kind
