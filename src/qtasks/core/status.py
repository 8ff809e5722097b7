"""Task statuses, as QTasks names them (lower-case strings)."""

from __future__ import annotations

from enum import StrEnum


class TaskStatusEnum(StrEnum):
    """Where a task is in its life; the values are the strings stored and shown."""

    NEW = "new"
    """Queued, possibly delayed, not yet claimed by a worker."""
    PROCESS = "process"
    """Claimed by a worker that holds a lease on it."""
    SUCCESS = "success"
    """Finished and returned a value."""
    ERROR = "error"
    """Finished with an error (raised, timed out, undecodable, unknown task)."""
    CANCEL = "cancel"
    """Cancelled before or while running."""
    RETRY = "retry"
    """Failed and was re-enqueued as a new task (see ``retry_child_uuid``)."""

    @property
    def is_final(self) -> bool:
        """True when the task will not change any more (retry counts: its child goes on)."""
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {TaskStatusEnum.SUCCESS, TaskStatusEnum.ERROR, TaskStatusEnum.CANCEL, TaskStatusEnum.RETRY}
)
