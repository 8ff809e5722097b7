"""QTasks path ``qtasks.utils.tasks``: re-exports the chain helpers of ``qtasks.utils.chains``."""

from qtasks.utils.chains import AsyncTaskUtils, SyncTaskUtils

__all__ = ["AsyncTaskUtils", "SyncTaskUtils"]
