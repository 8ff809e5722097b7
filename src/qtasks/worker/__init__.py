"""The worker, one module per stage: claim and run (``worker``), execute, threads,
lease keeping, completion batching."""

from qtasks.worker.worker import Worker, WorkerOptions

__all__ = ["Worker", "WorkerOptions"]
