"""QTasks path ``qtasks.utils.tasks.sync_task_utils``: re-exports ``SyncTaskUtils``."""

from qtasks.utils.chains import SyncTaskUtils

__all__ = ["SyncTaskUtils"]
