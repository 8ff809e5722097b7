"""QTasks' test cases (``qtasks.tests``), used as QTasks' testing guide uses them, over
every transport: ``SyncTestCase`` / ``AsyncTestCase`` set an app up as a ``TestConfig``
says and, with ``worker`` on, run its tasks with a real worker in the test's process."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

import qtasks.asyncio
from qtasks import QueueTasks
from qtasks.config import QueueConfig
from qtasks.core.hooks import CallNext, Hook, Run
from qtasks.enums.task_status import TaskStatusEnum
from qtasks.schemas.test import TestConfig
from qtasks.tests import AsyncTestCase, SyncTestCase
from qtasks.tests.base import BaseTestCase

SUCCESS, ERROR, NEW = (
    s.value for s in (TaskStatusEnum.SUCCESS, TaskStatusEnum.ERROR, TaskStatusEnum.NEW)
)


def build_sync(url: str) -> QueueTasks:
    app = QueueTasks(name="cases", broker_url=url)

    @app.task(name="test")
    def sample(id: int) -> str:
        return f"user {id} saved"

    @app.task(name="error_task")
    def error_zero() -> None:
        print(1 / 0)

    @app.task(name="shape")
    def shape(value: Any) -> str:
        return type(value).__name__

    return app


def build_async(url: str) -> qtasks.asyncio.QueueTasks:
    app = qtasks.asyncio.QueueTasks(name="cases", broker_url=url)

    @app.task(name="test")
    async def sample(id: int) -> str:
        return f"user {id} saved"

    @app.task(name="error_task")
    async def error_zero() -> None:
        print(1 / 0)

    return app


@pytest.fixture
def sync_app(broker_url: str) -> Iterator[Callable[[], QueueTasks]]:
    """Builds sync apps on the transport; closes their connections after the test."""
    made: list[QueueTasks] = []

    def make() -> QueueTasks:
        made.append(build_sync(broker_url))
        return made[-1]

    yield make
    for app in made:
        app.close()


@pytest.fixture
async def async_app(broker_url: str) -> AsyncIterator[Callable[[], qtasks.asyncio.QueueTasks]]:
    """Builds async apps on the transport; closes their connections after the test."""
    made: list[qtasks.asyncio.QueueTasks] = []

    def make() -> qtasks.asyncio.QueueTasks:
        made.append(build_async(broker_url))
        return made[-1]

    yield make
    for app in made:
        await app.close()


SyncApps = Callable[[], QueueTasks]
AsyncApps = Callable[[], qtasks.asyncio.QueueTasks]


class Doubling(Hook):
    """A user hook (plugin position): doubles what a task returns."""

    async def execute(self, run: Run, call_next: CallNext) -> Any:
        return 2 * await call_next(run)


# the guide's examples -------------------------------------------------------------------


def test_sync_case_runs_tasks_in_process(sync_app: SyncApps) -> None:
    app = sync_app()
    case = SyncTestCase(app=app)
    case.settings(TestConfig.full())

    added = case.add_task("test", 5)
    assert added is not None and added.status == NEW  # what add_task returns without timeout
    stored = app.get(uuid=added.uuid)
    assert stored is not None and stored.status == SUCCESS  # ...and it has run already

    done = case.add_task("test", 5, timeout=30)
    assert done is not None and done.status == SUCCESS
    assert done.returning == "user 5 saved"
    assert case.get(done.uuid) == app.get(done.uuid)

    failed = case.add_task("error_task", timeout=30)
    assert failed is not None and failed.status == ERROR
    assert failed.traceback is not None and "ZeroDivisionError" in failed.traceback
    case.stop()


async def test_async_case_runs_tasks_in_process(async_app: AsyncApps) -> None:
    app = async_app()
    case = AsyncTestCase(app=app)
    case.settings(TestConfig.full())

    added = await case.add_task("test", 5)
    assert added is not None
    stored = await app.get(uuid=added.uuid)
    assert stored is not None and stored.status == SUCCESS

    done = await case.add_task("test", 7, timeout=30)
    assert done is not None and (done.status, done.returning) == (SUCCESS, "user 7 saved")
    failed = await case.add_task("error_task", timeout=30)
    assert failed is not None and failed.status == ERROR
    await case.stop()


def test_arguments_take_the_real_path(sync_app: SyncApps) -> None:
    """A tuple reaches the task as a list: it was encoded and decoded, not handed over."""
    app = sync_app()
    with SyncTestCase(app) as case:
        case.settings(TestConfig.full())
        done = case.add_task("shape", (1, 2), timeout=30)
    assert done is not None and done.returning == "list"


# what each TestConfig flag does ---------------------------------------------------------


def test_broker_off_uses_a_private_memory_queue_until_stop(
    broker_url: str,
    sync_app: SyncApps,
) -> None:
    app = sync_app()
    other = sync_app()  # another client of the app's real transport
    case = SyncTestCase(app)
    case.settings(TestConfig.only_worker())
    assert app.broker_url.startswith("memory://")

    done = case.add_task("test", 1, timeout=30)
    assert done is not None and done.status == SUCCESS
    assert other.get(done.uuid) is None  # it never reached the real transport

    case.stop()
    assert app.broker_url == broker_url
    assert app.get(done.uuid) is None  # back on the real transport
    real = app.add_task("test", 2)
    assert real is not None and other.get(real.uuid) is not None


def test_worker_off_leaves_tasks_queued_until_drained(sync_app: SyncApps) -> None:
    app = sync_app()
    with SyncTestCase(app) as case:
        case.settings(TestConfig.full_broker())
        added = case.add_task("test", 3)
        assert added is not None
        stored = case.get(added.uuid)
        assert stored is not None and stored.status == NEW
        assert case.drain() == 1
        stored = case.get(added.uuid)
        assert stored is not None and stored.returning == "user 3 saved"


def test_default_config_is_memory_without_a_worker(broker_url: str, sync_app: SyncApps) -> None:
    app = sync_app()
    with SyncTestCase(app) as case:
        case.settings()  # TestConfig(): every part stood in for
        added = case.add_task("test", 4)
        assert added is not None
        stored = case.get(added.uuid)
        assert stored is not None and stored.status == NEW
        assert case.drain() == 1
        stored = case.get(added.uuid)
        assert stored is not None and stored.status == SUCCESS
    assert app.broker_url == broker_url


def test_plugins_off_sets_user_hooks_aside_until_stop(sync_app: SyncApps) -> None:
    app = sync_app()
    hook = app.add_hook(Doubling())

    with SyncTestCase(app) as case:
        case.settings(TestConfig(worker=True, broker=True, plugins=True))
        kept = case.add_task("shape", 1, timeout=30)
        assert kept is not None and kept.returning == "intint"

        case.settings(TestConfig(worker=True, broker=True))  # undoes the first settings
        assert hook not in list(app.hooks)
        plain = case.add_task("shape", 1, timeout=30)
        assert plain is not None and plain.returning == "int"
    assert hook in list(app.hooks)


def test_update_config_applies_while_set_up(sync_app: SyncApps) -> None:
    app = sync_app()
    own = app.config
    case = SyncTestCase(app)
    config = QueueConfig(default_queue="elsewhere")
    case.update_config(config)
    case.settings(TestConfig.only_worker())
    assert app.config is config
    done = case.add_task("nameless", timeout=30)  # by name, unregistered: the app's queue
    assert done is not None and done.queue == "elsewhere"
    case.stop()
    assert app.config is own


# workers the case starts ----------------------------------------------------------------


def test_start_in_background_runs_the_tasks(sync_app: SyncApps) -> None:
    app = sync_app()
    case = SyncTestCase(app)
    case.settings(TestConfig.full())
    case.start_in_background(num_workers=2)
    done = case.add_task("test", 8, timeout=30)
    assert done is not None and done.returning == "user 8 saved"
    case.stop()
    assert not [t for t in threading.enumerate() if t.name == "qtasks-test-worker"]


def test_sync_start_blocks_until_stop(sync_app: SyncApps) -> None:
    app = sync_app()
    case = SyncTestCase(app)
    case.settings(TestConfig.full_broker())
    added = case.add_task("test", 9)
    assert added is not None
    served = threading.Thread(target=case.start, kwargs={"num_workers": 1})
    served.start()
    try:
        done = app.wait_result(added.uuid, timeout=30)
        assert done is not None and done.status == SUCCESS
    finally:
        while served.is_alive():  # stop() reaches the worker once it has started
            case.stop()
            served.join(0.2)


async def test_async_start_runs_until_stop(async_app: AsyncApps) -> None:
    app = async_app()
    case = AsyncTestCase(app)
    case.settings(TestConfig.full_broker())
    added = await case.add_task("test", 10)
    assert added is not None
    serving = asyncio.ensure_future(case.start(num_workers=1))
    done = await app.wait_result(added.uuid, timeout=30)
    assert done is not None and done.status == SUCCESS
    await case.stop()
    await asyncio.wait_for(serving, 30)


def test_base_test_case_is_the_one_implementation() -> None:
    assert issubclass(SyncTestCase, BaseTestCase) and issubclass(AsyncTestCase, BaseTestCase)
    shared = {"settings", "update_config", "start_in_background", "_add_task", "_stop"}
    for name in shared:
        assert name not in vars(SyncTestCase) and name not in vars(AsyncTestCase)


def test_a_task_not_done_in_time_returns_none_and_goes_back_to_the_queue(
    sync_app: SyncApps,
) -> None:
    app = sync_app()

    @app.task(name="slow")
    async def slow() -> None:
        await asyncio.Event().wait()  # never set

    with SyncTestCase(app) as case:
        case.settings(TestConfig.full())
        assert case.add_task("slow", timeout=0.3) is None
        assert app.count() == {NEW: 1}  # released, not failed: a later worker runs it
