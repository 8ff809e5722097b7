"""QTasks path ``qtasks.workers``: re-exports ``AsyncWorker``, ``SyncThreadWorker`` (one class).

They live in :mod:`qtasks.assembly`: what ``QueueTasks(worker=...)`` takes its broker,
config and log from. The engine itself is :class:`qtasks.worker.Worker`.
"""

from qtasks.assembly import AsyncWorker, SyncThreadWorker

__all__ = ["AsyncWorker", "SyncThreadWorker"]
