"""QTasks path ``qtasks.storages``: the storage classes, re-exported from :mod:`qtasks.assembly`.

Every transport keeps results itself, so a storage only names the broker's own server:
``AsyncRedisBroker(url=..., storage=AsyncRedisStorage(url=...))``.
"""

from qtasks.assembly import (
    AsyncMemoryStorage,
    AsyncPostgreSQLStorage,
    AsyncRedisStorage,
    AsyncSQLiteStorage,
    SyncMemoryStorage,
    SyncPostgreSQLStorage,
    SyncRedisStorage,
    SyncSQLiteStorage,
)

__all__ = [
    "AsyncMemoryStorage",
    "AsyncPostgreSQLStorage",
    "AsyncRedisStorage",
    "AsyncSQLiteStorage",
    "SyncMemoryStorage",
    "SyncPostgreSQLStorage",
    "SyncRedisStorage",
    "SyncSQLiteStorage",
]
