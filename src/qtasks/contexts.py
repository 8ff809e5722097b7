"""QTasks path ``qtasks.contexts``: re-exports ``self.ctx``'s classes from :mod:`qtasks.context`."""

from qtasks.context import AsyncContext, SyncContext

__all__ = ["AsyncContext", "SyncContext"]
