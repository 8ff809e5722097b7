"""QTasks path ``qtasks.routers.async_router``: re-exports :class:`qtasks.routers.AsyncRouter`."""

from qtasks.routers import AsyncRouter

__all__ = ["AsyncRouter"]
