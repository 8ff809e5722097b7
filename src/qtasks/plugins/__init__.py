"""QTasks' plugin path: ``BasePlugin`` and the plugins QTasks ships, each in its submodule
(imported on first use, so ``import qtasks.plugins`` stays cheap)."""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the submodule defining it.
_NAMES = {
    "BasePlugin": "qtasks.plugins.base",
    "Depends": "qtasks.plugins.depends",
    "AsyncDependsPlugin": "qtasks.plugins.depends",
    "SyncDependsPlugin": "qtasks.plugins.depends",
    "AsyncState": "qtasks.plugins.states",
    "SyncState": "qtasks.plugins.states",
    "AsyncStatePlugin": "qtasks.plugins.states",
    "SyncStatePlugin": "qtasks.plugins.states",
}


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'qtasks.plugins' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(_NAMES)


__all__ = sorted(_NAMES)
