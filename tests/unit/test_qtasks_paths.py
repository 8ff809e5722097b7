"""QTasks' import paths are re-exports: each name is our own object, not a copy.

Code written for QTasks imports from ``qtasks.enums.task_status``, ``qtasks.schemas.task``,
``qtasks.registries`` and so on; these tests pin that each such name IS the class we
implement elsewhere (identity), and check the few objects that exist for these paths
alone: ``TestConfig``, the QTasks exception names and the component classes that
``QueueTasks(broker=..., worker=...)`` takes.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging

import pytest

import qtasks
import qtasks.asyncio
from qtasks import assembly, config, context, routers, tasks
from qtasks.brokers import AsyncMemoryBroker, AsyncRedisBroker, AsyncSQLiteBroker
from qtasks.configs import QueueConfig
from qtasks.core import errors, result, status
from qtasks.core.errors import ConfigurationError
from qtasks.schemas.test import TestConfig
from qtasks.storages import AsyncMemoryStorage, AsyncRedisStorage, AsyncSQLiteStorage
from qtasks.utils import chains
from qtasks.workers import AsyncWorker, SyncThreadWorker

#: (QTasks module, name there, our object).
REEXPORTS = [
    ("qtasks.enums", "TaskStatusEnum", status.TaskStatusEnum),
    ("qtasks.enums.task_status", "TaskStatusEnum", status.TaskStatusEnum),
    ("qtasks.schemas", "Task", result.Task),
    ("qtasks.schemas.task", "Task", result.Task),
    ("qtasks.schemas", "TestConfig", TestConfig),
    ("qtasks.registries", "SyncTask", tasks.SyncTask),
    ("qtasks.registries", "AsyncTask", tasks.AsyncTask),
    ("qtasks.configs", "QueueConfig", config.QueueConfig),
    ("qtasks.contexts", "SyncContext", context.SyncContext),
    ("qtasks.contexts", "AsyncContext", context.AsyncContext),
    ("qtasks.exc", "TaskCancelError", errors.TaskCancelledError),
    ("qtasks.exc", "TaskPluginTriggerError", errors.TaskPluginTriggerError),
    ("qtasks.utils.tasks", "SyncTaskUtils", chains.SyncTaskUtils),
    ("qtasks.utils.tasks", "AsyncTaskUtils", chains.AsyncTaskUtils),
    ("qtasks.utils.tasks.sync_task_utils", "SyncTaskUtils", chains.SyncTaskUtils),
    ("qtasks.utils.tasks.async_task_utils", "AsyncTaskUtils", chains.AsyncTaskUtils),
    ("qtasks.utils", "SyncTaskUtils", chains.SyncTaskUtils),
    ("qtasks.routers", "SyncRouter", routers.SyncRouter),
    ("qtasks.routers.sync_router", "SyncRouter", routers.SyncRouter),
    ("qtasks.routers.async_router", "AsyncRouter", routers.AsyncRouter),
    ("qtasks", "SyncRouter", routers.SyncRouter),
    ("qtasks", "AsyncRouter", routers.AsyncRouter),
    ("qtasks.workers", "AsyncWorker", assembly.AsyncWorker),
    ("qtasks.workers", "SyncThreadWorker", assembly.AsyncWorker),
]

#: Every transport's broker and storage, by QTasks' naming: Sync* and Async* are one class.
TRANSPORT_LABELS = ["Redis", "SQLite", "PostgreSQL", "Memory"]


@pytest.mark.parametrize(("module", "name", "ours"), REEXPORTS)
def test_each_qtasks_path_is_our_object(module: str, name: str, ours: object) -> None:
    assert getattr(importlib.import_module(module), name) is ours


@pytest.mark.parametrize("label", TRANSPORT_LABELS)
@pytest.mark.parametrize(("module", "role"), [("brokers", "Broker"), ("storages", "Storage")])
def test_sync_and_async_component_names_are_one_class(label: str, module: str, role: str) -> None:
    found = importlib.import_module(f"qtasks.{module}")
    async_cls = getattr(found, f"Async{label}{role}")
    assert getattr(found, f"Sync{label}{role}") is async_cls
    assert async_cls is getattr(assembly, f"Async{label}{role}")
    assert async_cls.transport.label == label


def test_testconfig_presets_and_defaults() -> None:
    assert TestConfig() == TestConfig(False, False, False, False, False)
    assert TestConfig.full() == TestConfig(True, True, True, True, True)
    assert TestConfig.only_worker() == TestConfig(worker=True)
    assert TestConfig.only_worker(plugins=True) == TestConfig(worker=True, plugins=True)
    assert TestConfig.only_broker() == TestConfig(broker=True)
    assert TestConfig.full_broker() == TestConfig(
        broker=True, storage=True, global_config=True, plugins=True
    )
    assert [f.name for f in dataclasses.fields(TestConfig)] == [
        "worker",
        "broker",
        "storage",
        "global_config",
        "plugins",
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        TestConfig().worker = True  # type: ignore[misc]


def test_qtasks_exception_names() -> None:
    from qtasks.exc import TaskCancelError, TaskPluginTriggerError

    assert TaskCancelError("stop").reason == "stop"
    error = TaskPluginTriggerError("odd", message="non-standard")
    assert error.args == ("odd",) and error.kwargs == {"message": "non-standard"}
    assert issubclass(TaskPluginTriggerError, errors.QTasksError)


@pytest.mark.parametrize("app_class", [qtasks.QueueTasks, qtasks.asyncio.QueueTasks])
def test_app_takes_qtasks_parameters_in_qtasks_order(app_class: type[qtasks.QueueTasks]) -> None:
    events = object()
    own_config = QueueConfig(max_tasks_process=3)
    log = logging.getLogger("qtasks.test.paths")
    app = app_class("orders", "memory://paths-order", None, None, log, own_config, events)
    assert (app.name, app.broker_url) == ("orders", "memory://paths-order")
    assert (app.log, app.config, app.events) == (log, own_config, events)


def test_a_broker_object_is_its_url_for_the_apps_name() -> None:
    broker = AsyncMemoryBroker(url="memory://paths-broker")
    first = qtasks.QueueTasks("first", broker=broker)
    second = qtasks.asyncio.QueueTasks("second", broker=broker)  # a setting: reusable
    assert first.broker_url == second.broker_url == "memory://paths-broker"
    assert AsyncSQLiteBroker().url == "sqlite:///qtasks.sqlite3"  # the app's default file
    assert AsyncRedisBroker().url == "redis://localhost:6379/0"  # QTasks' default


def test_a_named_broker_serves_only_the_app_of_that_name() -> None:
    broker = AsyncMemoryBroker(name="billing", url="memory://paths-named")
    assert qtasks.QueueTasks("billing", broker=broker).name == "billing"
    with pytest.raises(ConfigurationError, match="name is its namespace"):
        qtasks.QueueTasks(broker=broker)  # the app is "QueueTasks", the broker "billing"


def test_urls_must_belong_to_the_classes_transport_and_agree() -> None:
    with pytest.raises(ConfigurationError, match="takes Redis URLs"):
        AsyncRedisBroker(url="sqlite:///tasks.db")
    with pytest.raises(ConfigurationError, match="name two servers"):
        qtasks.QueueTasks(broker_url="memory://a", broker=AsyncMemoryBroker(url="memory://b"))


def test_storage_is_the_brokers_own_server() -> None:
    storage = AsyncRedisStorage(name="QueueTasks", url="redis://127.0.0.1:6379/3")
    broker = AsyncRedisBroker(storage=storage)
    assert (broker.url, broker.name) == ("redis://127.0.0.1:6379/3", "QueueTasks")
    with pytest.raises(ConfigurationError, match="results are kept on the broker's server"):
        AsyncRedisBroker(url="redis://127.0.0.1:6379/4", storage=storage)
    with pytest.raises(ConfigurationError, match="give it a SQLite storage"):
        AsyncSQLiteBroker(storage=AsyncMemoryStorage())
    with pytest.raises(ConfigurationError, match="one name"):
        AsyncSQLiteBroker(name="a", storage=AsyncSQLiteStorage(name="b"))


@pytest.mark.parametrize(
    ("make", "param"),
    [
        (lambda: AsyncRedisBroker(queue_name="jobs"), "queue_name"),
        (lambda: AsyncRedisStorage(redis_connect=object()), "redis_connect"),
        (lambda: AsyncRedisStorage(queue_process="running"), "queue_process"),
    ],
)
def test_qtasks_parameters_we_cannot_honour_are_refused(make: object, param: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{param}=.* is not supported"):
        make()  # type: ignore[operator]


def test_a_global_config_names_the_apps_server() -> None:
    from qtasks.configs import AsyncRedisGlobalConfig, SyncRedisGlobalConfig

    assert SyncRedisGlobalConfig is AsyncRedisGlobalConfig
    config = AsyncRedisGlobalConfig(url="redis://127.0.0.1:6379/7")
    app = qtasks.QueueTasks(global_config=config)
    assert app.broker_url == "redis://127.0.0.1:6379/7"
    storage = AsyncRedisStorage(url="redis://127.0.0.1:6379/7", global_config=config)
    app = qtasks.QueueTasks(broker=AsyncRedisBroker(storage=storage))
    assert app.broker_url == "redis://127.0.0.1:6379/7"
    with pytest.raises(ConfigurationError, match="global_config= takes"):
        AsyncRedisStorage(global_config=object())
    with pytest.raises(ConfigurationError, match="one server"):
        AsyncRedisStorage(url="redis://127.0.0.1:6379/8", global_config=config)
    with pytest.raises(ConfigurationError, match="one server"):
        qtasks.QueueTasks(broker_url="redis://127.0.0.1:6379/8", global_config=config)
    with pytest.raises(ConfigurationError, match="config_name"):
        AsyncRedisGlobalConfig(config_name="mine")


def test_a_worker_brings_its_broker_and_config() -> None:
    worker_config = QueueConfig(max_tasks_process=2)
    broker = AsyncMemoryBroker(url="memory://paths-worker")
    app = qtasks.QueueTasks(worker=SyncThreadWorker(broker=broker, config=worker_config))
    assert app.broker_url == "memory://paths-worker" and app.config is worker_config
    assert app.make_worker().options.concurrency == 2
    with pytest.raises(ConfigurationError, match="is not its worker's"):
        qtasks.QueueTasks(broker=AsyncMemoryBroker(), worker=AsyncWorker(broker=broker))
    with pytest.raises(ConfigurationError, match="different config objects"):
        qtasks.QueueTasks(config=QueueConfig(), worker=AsyncWorker(config=worker_config))


def test_other_objects_are_refused_as_components() -> None:
    with pytest.raises(ConfigurationError, match="worker= takes a worker"):
        qtasks.QueueTasks(broker_url="memory://x", worker="SyncThreadWorker")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="broker= takes a broker"):
        qtasks.QueueTasks(broker="redis://localhost")  # type: ignore[arg-type]
