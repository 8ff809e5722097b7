"""QTasks path ``qtasks.middlewares``: ``BaseMiddleware`` and ``TaskMiddleware``.

A task middleware runs before or after a task's call, given its task executor; see
:mod:`qtasks.worker.middlewares` for who runs which, in what order.
"""

from qtasks.middlewares.base import BaseMiddleware
from qtasks.middlewares.task import TaskMiddleware

__all__ = ["BaseMiddleware", "TaskMiddleware"]
