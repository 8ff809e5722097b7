"""QTasks path ``qtasks.schemas``: re-exports the ``Task`` record and ``TestConfig``."""

from qtasks.core.result import Task
from qtasks.schemas.test import TestConfig

__all__ = ["Task", "TestConfig"]
