"""QTasks path ``qtasks.schemas.task``: re-exports the record :class:`qtasks.core.result.Task`."""

from qtasks.core.result import Task

__all__ = ["Task"]
