"""Tasks declared without an app: routers and shared_task."""

from __future__ import annotations

import pytest

import qtasks.asyncio
from qtasks import AsyncRouter, QueueTasks, SyncRouter, shared_task
from qtasks.core.errors import ConfigurationError
from qtasks.tasks import AsyncTask, SyncTask


def test_shared_task_registers_on_later_apps_and_uses_the_first() -> None:
    @shared_task(name="shared:hello")
    def hello(name: str) -> str:
        return f"hi {name}"

    with pytest.raises(ConfigurationError, match="not registered"):
        hello.add_task("x")
    first = QueueTasks(broker_url="memory://shared-1")
    second = QueueTasks(broker_url="memory://shared-2")
    assert first.tasks["shared:hello"] is hello and second.tasks["shared:hello"] is hello
    record = hello.add_task("x")
    assert record is not None
    assert first.get(record.uuid) is not None and second.get(record.uuid) is None


def test_shared_task_awaiting_is_async() -> None:
    @shared_task(awaiting=True)
    async def ping_shared() -> str:
        return "pong"

    assert isinstance(ping_shared, AsyncTask)


def test_router_tasks_go_through_the_app_that_included_them() -> None:
    router = SyncRouter()

    @router.task
    def routed() -> int:
        return 1

    later = QueueTasks(broker_url="memory://router-later")  # created last, not included
    app = QueueTasks(broker_url="memory://router-app")
    app.include_router(router)
    record = routed.add_task()
    assert record is not None and app.get(record.uuid) is not None
    assert later.get(record.uuid) is None
    assert isinstance(routed, SyncTask)


def test_async_router_on_async_app() -> None:
    router = AsyncRouter()

    @router.task(priority=3)
    async def routed_async() -> int:
        return 1

    app = qtasks.asyncio.QueueTasks(broker_url="memory://router-async")
    app.include_router(router)
    assert app.tasks["routed_async"].definition.priority == 3
    with pytest.raises(ValueError):

        @router.task(name="routed_async")
        async def again() -> int:
            return 2


def test_router_tasks_take_the_including_apps_config() -> None:
    from qtasks.config import QueueConfig

    router = SyncRouter()

    @router.task
    def configured() -> None: ...

    app = QueueTasks(
        broker_url="memory://router-config",
        config=QueueConfig(default_queue="main", task_default_priority=7, retry_backoff=0),
    )
    app.include_router(router)
    definition = configured.definition
    assert (definition.queue, definition.priority, definition.retry_backoff) == ("main", 7, 0)
