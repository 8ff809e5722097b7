"""QTasks path ``qtasks.registries``: re-exports the task handles of :mod:`qtasks.tasks`.

``SyncTask`` is what ``@app.task`` returns on ``qtasks.QueueTasks`` and sync routers,
``AsyncTask`` on ``qtasks.asyncio.QueueTasks`` and async routers (annotate ``self`` of an
``echo=True`` task with them, as QTasks' docs do).
"""

from qtasks.tasks import AsyncTask, SyncTask

__all__ = ["AsyncTask", "SyncTask"]
