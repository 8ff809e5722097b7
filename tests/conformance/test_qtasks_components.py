"""QTasks-style components drive a real app on every transport.

``QueueTasks(broker=AsyncRedisBroker(url=...))`` and its SQLite, PostgreSQL and memory
siblings are settings: the app turns the broker object into its own per-loop brokers
for its name. Each test here enqueues through such an app, runs the queue with
``qtasks.testing.drain`` and reads the result, once per transport of ``broker_url``.
"""

from __future__ import annotations

import asyncio
from contextlib import closing
from urllib.parse import urlsplit

import qtasks.asyncio
from qtasks import QueueTasks
from qtasks.assembly import BrokerComponent, StorageComponent
from qtasks.brokers import (
    AsyncMemoryBroker,
    AsyncPostgreSQLBroker,
    AsyncRedisBroker,
    AsyncSQLiteBroker,
    SyncMemoryBroker,
    SyncPostgreSQLBroker,
    SyncRedisBroker,
    SyncSQLiteBroker,
)
from qtasks.enums.task_status import TaskStatusEnum
from qtasks.storages import (
    AsyncMemoryStorage,
    AsyncPostgreSQLStorage,
    AsyncRedisStorage,
    AsyncSQLiteStorage,
)
from qtasks.testing import drain
from qtasks.workers import AsyncWorker, SyncThreadWorker

#: What a QTasks user would name for each URL the fixture gives: sync broker, async
#: broker, storage.
_BY_TRANSPORT: list[tuple[type[BrokerComponent], type[BrokerComponent], type[StorageComponent]]] = [
    (SyncRedisBroker, AsyncRedisBroker, AsyncRedisStorage),
    (SyncSQLiteBroker, AsyncSQLiteBroker, AsyncSQLiteStorage),
    (SyncPostgreSQLBroker, AsyncPostgreSQLBroker, AsyncPostgreSQLStorage),
    (SyncMemoryBroker, AsyncMemoryBroker, AsyncMemoryStorage),
]


def classes_for(
    url: str,
) -> tuple[type[BrokerComponent], type[BrokerComponent], type[StorageComponent]]:
    scheme = urlsplit(url).scheme
    for classes in _BY_TRANSPORT:
        if scheme in classes[1].transport.schemes:
            return classes
    raise AssertionError(f"no component classes for {url}")


def test_sync_app_with_a_broker_object(broker_url: str) -> None:
    sync_broker, _, _ = classes_for(broker_url)
    with closing(QueueTasks("components-sync", broker=sync_broker(url=broker_url))) as app:
        assert app.broker_url == broker_url

        @app.task(name="greet")
        def greet(user: int) -> str:
            return f"user {user} recorded"

        record = app.add_task("greet", 5)
        assert record is not None and record.status == TaskStatusEnum.NEW
        assert drain(app) == 1
        final = app.get(record.uuid)
        assert final is not None and final.status == TaskStatusEnum.SUCCESS
        assert final.returning == "user 5 recorded"


async def test_async_app_assembled_by_hand(broker_url: str) -> None:
    """QTasks' manual assembly: storage in the broker, broker in the worker, all named."""
    _, async_broker, storage = classes_for(broker_url)
    name = "components-async"
    broker = async_broker(name=name, storage=storage(name=name, url=broker_url))
    worker = AsyncWorker(name=name, broker=broker)
    app = qtasks.asyncio.QueueTasks(name=name, broker=broker, worker=worker)

    @app.task(name="double")
    async def double(x: int) -> int:
        return 2 * x

    try:
        record = await double.add_task(21)
        assert record is not None
        assert await asyncio.to_thread(drain, app) == 1
        final = await app.get(record.uuid)
        assert final is not None and final.status == TaskStatusEnum.SUCCESS
        assert final.returning == 42
    finally:
        await app.close()


def test_a_worker_object_brings_the_broker(broker_url: str) -> None:
    sync_broker, _, _ = classes_for(broker_url)
    worker = SyncThreadWorker(broker=sync_broker(url=broker_url))
    with closing(QueueTasks("components-worker", worker=worker)) as app:

        @app.task(name="fail")
        def fail() -> None:
            raise ZeroDivisionError("boom")

        record = app.add_task("fail")
        assert record is not None
        drain(app)
        final = app.get(record.uuid)
        assert final is not None and final.status == TaskStatusEnum.ERROR
        assert final.traceback is not None and "ZeroDivisionError" in final.traceback


def test_one_broker_object_for_two_apps_keeps_their_tasks_apart(broker_url: str) -> None:
    sync_broker, _, _ = classes_for(broker_url)
    broker = sync_broker(url=broker_url)  # no name: each app gives its own
    billing = QueueTasks("billing", broker=broker)
    mail = QueueTasks("mail", broker=broker)
    try:
        record = billing.add_task("anything")
        assert record is not None
        assert mail.get(record.uuid) is None
        assert billing.get(record.uuid) is not None
    finally:
        billing.close()
        mail.close()
