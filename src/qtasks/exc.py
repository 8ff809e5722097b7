"""QTasks path ``qtasks.exc``: QTasks' exception names, re-exported from :mod:`qtasks.core.errors`.

``TaskCancelError`` is our :class:`~qtasks.core.errors.TaskCancelledError` (raising it in a
task stores the task as ``cancel``, with the message as ``cancel_reason``).
"""

from qtasks.core.errors import TaskCancelledError, TaskPluginTriggerError

TaskCancelError = TaskCancelledError

__all__ = ["TaskCancelError", "TaskPluginTriggerError"]
