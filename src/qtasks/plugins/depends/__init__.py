"""QTasks' ``Depends``: task parameters whose values the worker builds, and tears down.

``db: Annotated[DB, Depends(get_db)]`` (or ``db=Depends(get_db)``) in a task's signature:
the worker calls ``get_db`` (a function, an async function, a generator, an async
generator or a context manager) and passes what it gives; ``scope`` says how long that
value lives (:class:`ScopeEnum`). The work is done by one hook every app has,
:class:`DependsHook`; QTasks' plugin names refer to it.
"""

from qtasks.plugins.depends.hook import DependsHook
from qtasks.plugins.depends.markers import Depends, DependsError, ScopeEnum

#: QTasks' worker plugins for Depends: here the one hook every app's chain has.
AsyncDependsPlugin = DependsHook
SyncDependsPlugin = DependsHook

__all__ = [
    "AsyncDependsPlugin",
    "Depends",
    "DependsError",
    "DependsHook",
    "ScopeEnum",
    "SyncDependsPlugin",
]
