"""QTasks' component objects (``AsyncRedisBroker(url=...)``, ``AsyncWorker(...)``) as settings.

QTasks users build a broker, storage or worker object and hand it to
``QueueTasks(broker=..., worker=...)``. Here such an object is no connection: brokers
are made per event loop, so it only says where to connect (a URL of one transport) and
for which app. The app turns it into its per-loop broker factory with
:func:`qtasks.brokers.urls.broker_factory`, exactly as it does for ``broker_url=``.

One class does this for every transport (the subclasses below only name a transport),
and the ``Sync``/``Async`` names are one class each: the engine is one.

Names: an app's name is its namespace. A component made without ``name=`` serves the
app it is given to; one made with another name than the app's is refused
(``ConfigurationError``), since two names for one app's tasks cannot both hold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from qtasks.config import QueueConfig
from qtasks.core.errors import ConfigurationError

if TYPE_CHECKING:  # qtasks.brokers re-exports this module: import nothing of it at run time
    from qtasks.brokers.urls import BrokerFactory

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Transport:
    """One of our transports, as the component classes name it."""

    label: str
    """The word in the class names: ``AsyncRedisBroker``, ``AsyncSQLiteStorage``."""
    schemes: frozenset[str]
    """URL schemes this transport serves."""
    default_url: str | None
    """The URL of a component made without ``url=``; ``None``: the app's default URL."""

    def url(self, url: str | None, cls: type[object]) -> str:
        """``url`` checked to be one of this transport's, or the default URL."""
        if url is None:
            from qtasks.brokers.urls import DEFAULT_URL

            return self.default_url or DEFAULT_URL
        scheme = urlsplit(url).scheme.lower()
        if scheme not in self.schemes:
            raise ConfigurationError(
                f"{cls.__name__} takes {self.label} URLs "
                f"({', '.join(f'{s}://' for s in sorted(self.schemes))}), not {url!r}"
            )
        return url


REDIS = Transport(
    "Redis",
    frozenset({"redis", "rediss", "redis+cluster", "rediss+cluster", "redis+sentinel"}),
    "redis://localhost:6379/0",  # QTasks' default
)
SQLITE = Transport("SQLite", frozenset({"sqlite"}), None)
POSTGRESQL = Transport("PostgreSQL", frozenset({"postgresql", "postgres"}), "postgresql://")
MEMORY = Transport("Memory", frozenset({"memory"}), "memory://default")


class _Component:
    """What brokers, storages and workers share: the app name and the objects an app adopts."""

    def __init__(
        self,
        name: str | None,
        log: logging.Logger | None,
        config: QueueConfig | None,
        events: Any,
    ) -> None:
        self.name = name
        """The app this component is for; ``None``: whichever app it is given to."""
        self.log = log
        self.config = config
        self.events = events

    def _check_name(self, app_name: str) -> None:
        if self.name is not None and self.name != app_name:
            raise ConfigurationError(
                f"{type(self).__name__}(name={self.name!r}) given to the app {app_name!r}: an "
                f"app's name is its namespace; name the app QueueTasks({self.name!r}, ...) or "
                "leave the component's name out"
            )


class GlobalConfigComponent(_Component):
    """QTasks' GlobalConfig (``AsyncRedisGlobalConfig(url=...)``): with our transports the
    broker's own server, where all of an app's state lives; it names that server, and is
    checked to match, like a storage. (QTasks' variable store on it, used by its WebView,
    is not provided.)"""

    transport: ClassVar[Transport]

    def __init__(
        self,
        name: str | None = None,
        url: str | None = None,
        redis_connect: Any = None,
        config_name: str | None = None,
        log: logging.Logger | None = None,
        config: QueueConfig | None = None,
        events: Any = None,
    ) -> None:
        """
        :param name: the app's name; default: the app's it is given to.
        :param url: the server; it must be the broker's (default: the broker's).
        :param redis_connect: not accepted: each event loop opens its own connection.
        :param config_name: QTasks' hash name; only its default is accepted.
        """
        super().__init__(name, log, config, events)
        refuse(type(self), "redis_connect", redis_connect, None)
        refuse(type(self), "config_name", config_name, None)
        self.url = None if url is None else self.transport.url(url, type(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={self.url!r})"


class StorageComponent(_Component):
    """Where results are kept: with our transports always the broker's own server."""

    transport: ClassVar[Transport]

    def __init__(
        self,
        name: str | None = None,
        url: str | None = None,
        queue_process: str = "task_process",
        redis_connect: Any = None,
        global_config: Any = None,
        log: logging.Logger | None = None,
        config: QueueConfig | None = None,
        events: Any = None,
    ) -> None:
        """
        :param name: the app's name; default: the app's it is given to (through its broker).
        :param url: the server; default: the broker's URL.
        :param queue_process: QTasks' key for running tasks; only its default is accepted.
        :param redis_connect: not accepted: each event loop opens its own connection.
        :param global_config: a GlobalConfig of the same transport and server
            (``AsyncRedisGlobalConfig``), or ``None``.
        :param log: adopted by the app when it has none.
        :param config: adopted by the app when it has none.
        :param events: adopted by the app when it has none.
        """
        super().__init__(name, log, config, events)
        refuse(type(self), "queue_process", queue_process, "task_process")
        refuse(type(self), "redis_connect", redis_connect, None)
        self.url = None if url is None else self.transport.url(url, type(self))
        self.global_config = check_global_config(global_config, self.transport, self.url)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={self.url!r})"


class BrokerComponent(_Component):
    """A transport URL for an app: ``QueueTasks(broker=AsyncRedisBroker(url=...))``."""

    transport: ClassVar[Transport]

    def __init__(
        self,
        name: str | None = None,
        url: str | None = None,
        storage: StorageComponent | None = None,
        queue_name: str = "task_queue",
        log: logging.Logger | None = None,
        config: QueueConfig | None = None,
        events: Any = None,
    ) -> None:
        """
        :param name: the app's name; default: the app's it is given to.
        :param url: the server; default: the storage's URL, else the transport's default.
        :param storage: a storage of the same transport, server and name (results live
            with the queue on every transport).
        :param queue_name: QTasks' key for the queue; only its default is accepted (set
            ``QueueConfig(default_queue=...)`` to choose the queue).
        :param log: adopted by the app when it has none.
        :param config: adopted by the app when it has none.
        :param events: adopted by the app when it has none.
        """
        super().__init__(name, log, config, events)
        refuse(type(self), "queue_name", queue_name, "task_queue")
        if storage is not None:
            storage = self._check_storage(storage, name, url)
            self.name = name or storage.name
            url = url or storage.url
        self.storage = storage
        self.url = self.transport.url(url, type(self))

    def _check_storage(
        self, storage: StorageComponent, name: str | None, url: str | None
    ) -> StorageComponent:
        if not isinstance(storage, StorageComponent) or storage.transport != self.transport:
            raise ConfigurationError(
                f"{type(self).__name__} keeps results on its own server: give it a "
                f"{self.transport.label} storage, not {storage!r}"
            )
        if url is not None and storage.url is not None and storage.url != url:
            raise ConfigurationError(
                f"{type(self).__name__}(url={url!r}) with a storage on {storage.url!r}: "
                "results are kept on the broker's server"
            )
        if None not in (storage.name, name) and storage.name != name:
            raise ConfigurationError(
                f"the storage is named {storage.name!r} and its broker {name!r}: "
                "both serve one app, under one name"
            )
        return storage

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={self.url!r})"


class WorkerComponent(_Component):
    """QTasks' worker object: its broker, config and log become the app's.

    The worker an app runs is made by ``app.run_forever()`` / ``qtasks -A ... run`` from
    the app's config (``max_tasks_process`` tasks at once); this object only supplies it.
    """

    def __init__(
        self,
        name: str | None = None,
        broker: BrokerComponent | None = None,
        log: logging.Logger | None = None,
        config: QueueConfig | None = None,
        events: Any = None,
    ) -> None:
        """
        :param name: the app's name; default: the app's it is given to.
        :param broker: the app's broker, when the app is given none itself.
        :param log: adopted by the app when it has none.
        :param config: adopted by the app when it has none (its ``max_tasks_process``
            is the worker's concurrency).
        :param events: adopted by the app when it has none.
        """
        super().__init__(name, log, config, events)
        if broker is not None and not isinstance(broker, BrokerComponent):
            raise ConfigurationError(
                f"{type(self).__name__}(broker=...) takes a broker, not {broker!r}"
            )
        self.broker = broker

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, broker={self.broker!r})"


@dataclass(frozen=True, slots=True)
class AppParts:
    """What an app is made of once its QTasks-style arguments are resolved."""

    broker_url: str | None
    broker: BrokerFactory | None
    log: logging.Logger | None
    config: QueueConfig | None
    events: Any


def resolve_parts(
    app_name: str,
    *,
    broker_url: str | None,
    broker: BrokerFactory | BrokerComponent | None,
    worker: WorkerComponent | None,
    log: logging.Logger | None,
    config: QueueConfig | None,
    events: Any,
    global_config: Any = None,
) -> AppParts:
    """Turn ``QueueTasks(...)``'s arguments into one broker URL or factory, config, log and
    events; a component broker becomes its URL, and conflicting values are refused."""
    components: list[_Component] = []
    if global_config is not None:
        if not isinstance(global_config, GlobalConfigComponent):
            raise ConfigurationError(
                f"global_config= takes a GlobalConfig such as AsyncRedisGlobalConfig(...), "
                f"not {global_config!r}"
            )
        global_config._check_name(app_name)
        components.append(global_config)
        if broker_url is None and broker is None:
            broker_url = global_config.url  # the server it names is the app's
    if worker is not None:
        if not isinstance(worker, WorkerComponent):
            raise ConfigurationError(
                f"worker= takes a worker such as AsyncWorker(...), not {worker!r}"
            )
        worker._check_name(app_name)
        components.append(worker)
        if worker.broker is not None:
            if broker is None:
                broker = worker.broker
            elif broker is not worker.broker:
                raise ConfigurationError(
                    f"the app's broker {broker!r} is not its worker's {worker.broker!r}"
                )
    if isinstance(broker, BrokerComponent):
        if broker_url is not None and broker_url != broker.url:
            raise ConfigurationError(
                f"broker_url={broker_url!r} and broker={broker!r} name two servers"
            )
        broker._check_name(app_name)
        components.append(broker)
        if broker.storage is not None:
            components.append(broker.storage)
            if broker.storage.global_config is not None:
                components.append(broker.storage.global_config)
        broker_url, broker = broker.url, None
    elif broker is not None and not callable(broker):
        raise ConfigurationError(
            f"broker= takes a broker such as AsyncRedisBroker(url=...) or a callable making "
            f"broker instances, not {broker!r}"
        )
    gc_url = None if global_config is None else global_config.url
    if None not in (gc_url, broker_url) and gc_url != broker_url:
        raise ConfigurationError(
            f"the GlobalConfig is on {gc_url!r}, the broker on "
            f"{broker_url!r}: an app's state lives on one server"
        )
    return AppParts(
        broker_url=broker_url,
        broker=broker,
        log=_adopt("log", log, [c.log for c in components]),
        config=_adopt("config", config, [c.config for c in components]),
        events=_adopt("events", events, [c.events for c in components]),
    )


def _adopt(what: str, own: T | None, theirs: list[T | None]) -> T | None:
    """The app's own value, else its components' one value; two different ones are refused."""
    values = [v for v in [own, *theirs] if v is not None]
    if any(v is not values[0] for v in values[1:]):
        raise ConfigurationError(
            f"the app and its components were given different {what} objects: give one"
        )
    return values[0] if values else None


def check_global_config(
    global_config: Any, transport: Transport, url: str | None
) -> GlobalConfigComponent | None:
    """``global_config`` if it is ``None`` or a GlobalConfig on this transport and server."""
    if global_config is None:
        return None
    if not isinstance(global_config, GlobalConfigComponent) or (
        global_config.transport is not transport
    ):
        raise ConfigurationError(
            f"global_config= takes a {transport.label} GlobalConfig, not {global_config!r}"
        )
    if None not in (url, global_config.url) and url != global_config.url:
        raise ConfigurationError(
            f"the GlobalConfig is on {global_config.url!r}, its storage on {url!r}: "
            "an app's state lives on one server"
        )
    return global_config


def refuse(cls: type[object], param: str, value: object, accepted: object) -> None:
    """Accept a QTasks parameter only at the value whose meaning we share."""
    if value != accepted:
        raise ConfigurationError(
            f"{cls.__name__}({param}={value!r}) is not supported (only {accepted!r})"
        )


# The classes users name, one per transport and role; Sync* is the same class as Async*.


class AsyncRedisBroker(BrokerComponent):
    """Tasks on Redis (``redis://``, ``rediss://``, cluster, sentinel)."""

    transport = REDIS


class AsyncSQLiteBroker(BrokerComponent):
    """Tasks in an SQLite file (``sqlite:///relative.db``, ``sqlite:////absolute.db``)."""

    transport = SQLITE


class AsyncPostgreSQLBroker(BrokerComponent):
    """Tasks in PostgreSQL (``postgresql://``; default: libpq's defaults)."""

    transport = POSTGRESQL


class AsyncMemoryBroker(BrokerComponent):
    """Tasks in this process' memory (``memory://name``), for tests and examples."""

    transport = MEMORY


class AsyncRedisStorage(StorageComponent):
    """Results on Redis, with the broker's tasks."""

    transport = REDIS


class AsyncSQLiteStorage(StorageComponent):
    """Results in the broker's SQLite file."""

    transport = SQLITE


class AsyncPostgreSQLStorage(StorageComponent):
    """Results in the broker's PostgreSQL database."""

    transport = POSTGRESQL


class AsyncMemoryStorage(StorageComponent):
    """Results in this process' memory, with the broker's tasks."""

    transport = MEMORY


class AsyncWorker(WorkerComponent):
    """QTasks' worker name; runs sync and async tasks alike."""


SyncRedisBroker = AsyncRedisBroker
SyncSQLiteBroker = AsyncSQLiteBroker
SyncPostgreSQLBroker = AsyncPostgreSQLBroker
SyncMemoryBroker = AsyncMemoryBroker
SyncRedisStorage = AsyncRedisStorage
SyncSQLiteStorage = AsyncSQLiteStorage
SyncPostgreSQLStorage = AsyncPostgreSQLStorage
SyncMemoryStorage = AsyncMemoryStorage
SyncThreadWorker = AsyncWorker
