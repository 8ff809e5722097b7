"""The worker, one module per stage: claim and run (``worker``), execute, threads,
lease keeping, completion batching; and the engine's own hooks (retries, time limits)."""

from qtasks.core.hooks import Hook
from qtasks.logs import TaskLog
from qtasks.worker.limits import TimeLimit
from qtasks.worker.middlewares import TaskMiddlewares
from qtasks.worker.retries import Retries
from qtasks.worker.worker import Worker, WorkerOptions


def engine_hooks() -> tuple[Hook, ...]:
    """The hooks every app's chain starts with: the task log, QTasks middlewares,
    retries, time limits."""
    return (TaskLog(), TaskMiddlewares(), Retries(), TimeLimit())


__all__ = ["Retries", "TaskMiddlewares", "TimeLimit", "Worker", "WorkerOptions", "engine_hooks"]
