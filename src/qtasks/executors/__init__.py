"""QTasks path ``qtasks.executors``: task executor classes for ``@app.task(executor=...)``.

Subclass :class:`AsyncTaskExecutor` or :class:`SyncTaskExecutor` and override the
hooks you need; see :mod:`qtasks.executors.base` for the order they run in.
"""

from qtasks.executors.async_task_executor import AsyncTaskExecutor
from qtasks.executors.base import BaseTaskExecutor, TaskBroker
from qtasks.executors.sync_task_executor import SyncTaskExecutor

__all__ = ["AsyncTaskExecutor", "BaseTaskExecutor", "SyncTaskExecutor", "TaskBroker"]
