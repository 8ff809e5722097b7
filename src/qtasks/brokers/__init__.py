"""Transports, one module each, chosen by URL scheme (see :mod:`qtasks.brokers.urls`).

Also QTasks' path ``qtasks.brokers``: the broker classes users hand to
``QueueTasks(broker=...)``, re-exported from :mod:`qtasks.assembly` (each says which
transport and URL an app uses; ``SyncXBroker`` is ``AsyncXBroker``).
"""

from qtasks.assembly import (
    AsyncMemoryBroker,
    AsyncPostgreSQLBroker,
    AsyncRedisBroker,
    AsyncSQLiteBroker,
    SyncMemoryBroker,
    SyncPostgreSQLBroker,
    SyncRedisBroker,
    SyncSQLiteBroker,
)

__all__ = [
    "AsyncMemoryBroker",
    "AsyncPostgreSQLBroker",
    "AsyncRedisBroker",
    "AsyncSQLiteBroker",
    "SyncMemoryBroker",
    "SyncPostgreSQLBroker",
    "SyncRedisBroker",
    "SyncSQLiteBroker",
]
