"""QTasks path ``qtasks.enums``: re-exports :class:`qtasks.core.status.TaskStatusEnum`."""

from qtasks.core.status import TaskStatusEnum

__all__ = ["TaskStatusEnum"]
