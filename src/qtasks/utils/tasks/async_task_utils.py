"""QTasks path ``qtasks.utils.tasks.async_task_utils``: re-exports ``AsyncTaskUtils``."""

from qtasks.utils.chains import AsyncTaskUtils

__all__ = ["AsyncTaskUtils"]
