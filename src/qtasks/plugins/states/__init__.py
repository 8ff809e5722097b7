"""QTasks' ``State``: data shared by the tasks of one app in one worker process.

``class MyState(AsyncState): pass`` and a task parameter ``state: MyState``: the worker
passes an ``AsyncState`` whose ``get`` / ``get_all`` / ``set`` / ``update`` / ``delete`` /
``clear`` act on ``MyState``'s bucket (``SyncState``: the same, without ``await``). The
values are Python objects kept in the worker's memory, never sent to the broker: other
processes and machines do not see them and a restart forgets them. The injection is done
by the app's ``Depends`` hook (:mod:`qtasks.plugins.depends.hook`), which both names below
refer to.
"""

from typing import Any

from qtasks.plugins.states.fsm import AsyncState, SyncState, state_class
from qtasks.plugins.states.registry import AsyncStateRegistry, StateRegistry, SyncStateRegistry


def __getattr__(name: str) -> Any:
    # QTasks' worker plugins for State: here the one ``Depends`` hook every app has (looked
    # up on use: that hook's module imports this package's classes)
    if name in ("AsyncStatePlugin", "SyncStatePlugin"):
        from qtasks.plugins.depends.hook import DependsHook

        return DependsHook
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AsyncState",
    "AsyncStatePlugin",
    "AsyncStateRegistry",
    "StateRegistry",
    "SyncState",
    "SyncStatePlugin",
    "SyncStateRegistry",
    "state_class",
]
