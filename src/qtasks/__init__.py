"""qtasks: QTasks' API on one asyncio engine; embedded SQLite by default.

``from qtasks import QueueTasks`` for the blocking client API,
``from qtasks.asyncio import QueueTasks`` for the async one.
"""

from qtasks.core.records import CancelState
from qtasks.core.result import Task
from qtasks.core.status import TaskStatusEnum
from qtasks.facade import QueueTasks
from qtasks.plugins.depends import Depends
from qtasks.routers import AsyncRouter, Router, SyncRouter
from qtasks.shared import shared_task
from qtasks.version import __version__

__all__ = [
    "AsyncRouter",
    "CancelState",
    "Depends",
    "QueueTasks",
    "Router",
    "SyncRouter",
    "Task",
    "TaskStatusEnum",
    "__version__",
    "shared_task",
]
