"""QTasks path ``qtasks.enums.task_status``: re-exports ``qtasks.core.status.TaskStatusEnum``."""

from qtasks.core.status import TaskStatusEnum

__all__ = ["TaskStatusEnum"]
