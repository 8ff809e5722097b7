"""QTasks path ``qtasks.configs``: re-exports :class:`qtasks.config.QueueConfig`."""

from qtasks.config import QueueConfig

__all__ = ["QueueConfig"]
