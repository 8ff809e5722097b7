"""QTasks path ``qtasks.routers.sync_router``: re-exports :class:`qtasks.routers.SyncRouter`."""

from qtasks.routers import SyncRouter

__all__ = ["SyncRouter"]
