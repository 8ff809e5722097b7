"""The worker, one module per stage: claim and run (``worker``), execute, threads,
lease keeping, completion batching; and the engine's own hooks (retries, time limits)."""

from qtasks.core.hooks import Hook
from qtasks.worker.limits import TimeLimit
from qtasks.worker.retries import Retries
from qtasks.worker.worker import Worker, WorkerOptions


def engine_hooks() -> tuple[Hook, ...]:
    """The hooks every app's chain starts with: retries and time limits."""
    return (Retries(), TimeLimit())


__all__ = ["Retries", "TimeLimit", "Worker", "WorkerOptions", "engine_hooks"]
