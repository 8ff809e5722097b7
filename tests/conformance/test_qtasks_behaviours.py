"""QTasks behaviours on every transport: task attributes on ``self``, the context's extras,
chains returning every step, call options, ``task_name=``, async generate handlers,
pydantic arguments and TaskExecutor classes. A real worker runs in a thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pydantic
import pytest

import qtasks.asyncio
from qtasks import QueueTasks
from qtasks.executors import AsyncTaskExecutor, SyncTaskExecutor
from qtasks.testing import worker_thread
from qtasks.utils import AsyncTaskUtils, SyncTaskUtils


class Order(pydantic.BaseModel):
    sku: str
    quantity: int


class Receipt(pydantic.BaseModel):
    sku: str
    total: int


async def tenfold(item: int) -> int:
    await asyncio.sleep(0)
    return item * 10


#: What the executor hooks and middlewares saw, by test key (the worker runs in-process).
journal: dict[str, list[Any]] = {}


class Audit:
    """A QTasks-style task middleware: built with the executor, then called."""

    def __init__(self, task_executor: Any) -> None:
        self.task_executor = task_executor

    def __call__(self) -> None:
        journal.setdefault("middleware", []).append(self.task_executor.task_broker.name)


class Hooked(AsyncTaskExecutor):
    async def before_execute(self) -> None:
        journal.setdefault("hooks", []).append(("before", list(self._args)))

    async def after_execute(self) -> None:
        journal.setdefault("hooks", []).append(("after", self._result))

    async def decode(self) -> Any:
        return {"decoded": self._result}


class Doubling(SyncTaskExecutor):
    def run_task(self) -> Any:
        journal.setdefault("threads", []).append(threading.current_thread().name)
        return super().run_task() * 2


def build(app: Any) -> Any:
    """Declare the same tasks on a sync or an async app."""

    @app.task
    def add(a: int, b: int = 0) -> int:
        return a + b

    @app.task
    def boom() -> None:
        raise RuntimeError("step failed")

    @app.task
    async def slow(*_: Any) -> str:
        await asyncio.sleep(1.0)
        return "late"

    @app.task(echo=True, priority=2, retry=1, tags=["audit"], extra={"team": "ops"})
    def introspect(self: Any) -> dict[str, Any]:
        return {
            "task_name": self.task_name,
            "priority": self.priority,
            "echo": self.echo,
            "retry": self.retry,
            "tags": self.tags,
            "extra": self.extra,
            "executor": self.executor,
            "middlewares": [self.middlewares_before, self.middlewares_after],
            "handler": self.ctx.generate_handler,
            "worker": self.ctx.get_component("worker").id in self.ctx.worker_ids,
            "broker": self.ctx.get_component("broker") is not None,
            "config": self.ctx.get_component("config") is self.ctx.get_config(),
            "missing": self.ctx.get_component("no_such_component"),
        }

    @app.task(echo=True, generate_handler=tenfold, max_time=30)
    async def aintrospect(self: Any) -> list[Any]:
        return [self.ctx.generate_handler is tenfold, self.max_time, self.priority]

    @app.task(echo=True)
    def trigger(self: Any) -> None:
        self.ctx.plugin_error(reason="no plugin here")

    @app.task(echo=True)
    def forward(self: Any, depth: int) -> Any:
        if depth == 0:
            return "bottom"
        other = self.add_task(20, b=1, task_name="add", timeout=10)
        again = self.add_task(depth - 1, timeout=10)
        return [other.returning, again.returning]

    @app.task(generate_handler=tenfold)
    def sync_items(n: int) -> Any:
        yield from range(n)

    @app.task(generate_handler=tenfold)
    async def async_items(n: int) -> Any:
        for i in range(n):
            yield i

    @app.task(generate_handler=tenfold, executor="loop")
    def loop_items(n: int) -> Any:
        yield from range(n)

    @app.task
    def place(order: Order, gift: bool = False) -> Receipt:
        return Receipt(sku=order.sku, total=order.quantity * (0 if gift else 5))

    @app.task(retry=2, retry_backoff=0.01)
    def strict(order: Order) -> int:
        return order.quantity

    @app.task(executor=Hooked)
    def hooked(x: int) -> int:
        return x + 1

    @app.task(executor=Doubling, max_time=0.3)
    def doubling(x: int, nap: float = 0.0) -> int:
        time.sleep(nap)
        return x + 1

    @app.task(middlewares_before=[Audit], middlewares_after=[Audit])
    async def audited() -> str:
        return "ok"

    return app


@pytest.fixture
def sync_app(broker_url: str) -> Iterator[QueueTasks]:
    journal.clear()
    app = build(QueueTasks(broker_url=broker_url))
    with worker_thread(app, concurrency=4):
        yield app
    app.close()  # the client's connection: PostgreSQL's slots are few


@pytest.fixture
async def async_app(broker_url: str) -> AsyncIterator[qtasks.asyncio.QueueTasks]:
    app = build(qtasks.asyncio.QueueTasks(broker_url=broker_url))
    with worker_thread(app, concurrency=4):
        yield app
    await app.close()


def test_echo_self_and_ctx_show_the_task(sync_app: QueueTasks) -> None:
    record = sync_app.add_task("introspect", priority=9, timeout=10)
    assert record is not None and record.status == "success", record and record.traceback
    assert record.returning == {
        "task_name": "introspect",
        "priority": 9,  # this run's priority
        "echo": True,
        "retry": 1,
        "tags": ["audit"],
        "extra": {"team": "ops"},
        "executor": None,
        "middlewares": [[], []],
        "handler": None,
        "worker": True,
        "broker": True,
        "config": True,
        "missing": None,
    }
    record = sync_app.add_task("aintrospect", timeout=10)
    assert record is not None and record.returning == [True, 30, 0]


def test_plugin_error_fails_the_run_and_is_dead_lettered(sync_app: QueueTasks) -> None:
    record = sync_app.add_task("trigger", timeout=10)
    assert record is not None and record.status == "error"
    assert "TaskPluginTriggerError" in (record.traceback or "")
    assert [d.uuid for d in sync_app.dead_letters(task_name="trigger")] == [record.uuid]


def test_sync_chain_returns_every_step(sync_app: QueueTasks) -> None:
    add = sync_app.tasks["add"]
    records = SyncTaskUtils.chain(add(1, 2), add(10), add(100)).get(timeout=10)
    assert isinstance(records, list) and len(records) == 3
    assert [r.returning for r in records if r is not None] == [3, 13, 113]
    assert [r.args for r in records if r is not None] == [(1, 2), (10, 3), (100, 13)]


def test_a_chain_stops_at_a_failed_or_late_step(sync_app: QueueTasks) -> None:
    add, boom, slow = (sync_app.tasks[n] for n in ("add", "boom", "slow"))
    first, failed, skipped = SyncTaskUtils.chain(add(1), boom(), add(2)).get(timeout=10)
    assert first is not None and first.status == "success"
    assert failed is not None and failed.status == "error" and skipped is None
    records = SyncTaskUtils.chain(add(1), slow(timeout=0.1), add(2)).get(timeout=10)
    assert records[0] is not None and records[1:] == [None, None]


async def test_async_chain_returns_every_step(async_app: qtasks.asyncio.QueueTasks) -> None:
    add = async_app.tasks["add"]
    records = await AsyncTaskUtils.chain(add(1, 1), add(1), add(priority=4)).get(timeout=10)
    assert [r.returning for r in records if r is not None] == [2, 3, 3]
    assert records[2] is not None and records[2].priority == 4


def test_calling_a_task_with_priority_and_timeout(sync_app: QueueTasks) -> None:
    record = sync_app.tasks["add"](2, b=3, priority=6, timeout=10).add_task()
    assert record is not None and record.status == "success" and record.returning == 5
    assert record.priority == 6 and record.kwargs == {"b": 3}
    late = sync_app.tasks["slow"](timeout=0.05).add_task()
    assert late is None


async def test_async_call_with_timeout(async_app: qtasks.asyncio.QueueTasks) -> None:
    record = await async_app.tasks["add"](2, b=3, priority=0, timeout=10).add_task()
    assert record is not None and record.returning == 5 and record.kwargs == {"b": 3}


def test_task_name_picks_the_task(sync_app: QueueTasks) -> None:
    record = sync_app.tasks["boom"].add_task(5, task_name="add", timeout=10)
    assert record is not None and record.task_name == "add" and record.returning == 5
    assert record.kwargs == {}
    record = sync_app.tasks["boom"](6, task_name="add").add_task(timeout=10)
    assert record is not None and record.task_name == "add" and record.returning == 6
    record = sync_app.add_task("forward", 1, timeout=20)
    assert record is not None and record.status == "success", record and record.traceback
    assert record.returning == [21, "bottom"]


async def test_async_handle_task_name(async_app: qtasks.asyncio.QueueTasks) -> None:
    record = await async_app.tasks["boom"].add_task(7, task_name="add", timeout=10)
    assert record is not None and record.task_name == "add" and record.returning == 7


@pytest.mark.parametrize("name", ["sync_items", "async_items", "loop_items"])
def test_async_generate_handler_is_awaited(sync_app: QueueTasks, name: str) -> None:
    record = sync_app.add_task(name, 3, timeout=10)
    assert record is not None and record.status == "success", record and record.traceback
    assert record.returning == [0, 10, 20]


def test_pydantic_parameters_and_results(sync_app: QueueTasks) -> None:
    place = sync_app.tasks["place"]
    calls = [
        place.add_task("pen", quantity=3, timeout=10),
        place.add_task("pen", 3, timeout=10),
        place.add_task(sku="pen", quantity=3, timeout=10),
        place.add_task(order={"sku": "pen", "quantity": 3}, timeout=10),
        place.add_task(order=Order(sku="pen", quantity=3), timeout=10),  # a model crosses
        place.add_task(Order(sku="pen", quantity=3), timeout=10),
    ]
    assert [r.returning for r in calls if r is not None] == [{"sku": "pen", "total": 15}] * 6
    gift = place.add_task("pen", 3, True, timeout=10)
    assert gift is not None and gift.returning == {"sku": "pen", "total": 0}


def test_pydantic_validation_error_is_an_error_record(sync_app: QueueTasks) -> None:
    record = sync_app.tasks["strict"].add_task(sku="pen", quantity="many", timeout=10)
    assert record is not None and record.status == "error"
    text = record.traceback or ""
    assert "TaskArgumentsError" in text and "Order" in text and "valid integer" in text
    assert record.retry_child_uuid is None  # arguments that do not validate are not retried
    assert [d.uuid for d in sync_app.dead_letters(task_name="strict")] == [record.uuid]
    assert sync_app.add_task("add", 1, 1, timeout=10).returning == 2  # type: ignore[union-attr]


def test_task_executor_hooks_run_around_the_task(sync_app: QueueTasks) -> None:
    record = sync_app.add_task("hooked", 1, timeout=10)
    assert record is not None and record.returning == {"decoded": 2}, record and record.traceback
    assert journal["hooks"] == [("before", [1]), ("after", 2)]
    record = sync_app.add_task("doubling", 1, timeout=10)
    assert record is not None and record.returning == 4
    assert journal["threads"][0].startswith("qtasks-sync")
    record = sync_app.add_task("doubling", 1, nap=2.0, timeout=10)
    assert record is not None and record.status == "error"
    assert "exceeded max_time" in (record.traceback or "")


def test_task_middlewares_run(sync_app: QueueTasks) -> None:
    record = sync_app.add_task("audited", timeout=10)
    assert record is not None and record.returning == "ok", record and record.traceback
    assert journal["middleware"] == ["audited", "audited"]
