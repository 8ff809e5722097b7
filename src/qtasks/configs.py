"""QTasks path ``qtasks.configs``: :class:`qtasks.config.QueueConfig`, and QTasks'
GlobalConfig component (:class:`qtasks.assembly.GlobalConfigComponent`): with our Redis
transport, the broker's own server."""

from qtasks.assembly import REDIS, GlobalConfigComponent
from qtasks.config import QueueConfig


class AsyncRedisGlobalConfig(GlobalConfigComponent):
    """``AsyncRedisGlobalConfig(url="redis://...")``: names the app's Redis server."""

    transport = REDIS


#: The same class: the engine is one.
SyncRedisGlobalConfig = AsyncRedisGlobalConfig

__all__ = ["AsyncRedisGlobalConfig", "QueueConfig", "SyncRedisGlobalConfig"]
