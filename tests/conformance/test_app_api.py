"""The QTasks API end to end on every transport: a real worker in a thread, sync and async."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import qtasks.asyncio
from qtasks import QueueTasks, Router, TaskStatusEnum
from qtasks.config import QueueConfig
from qtasks.testing import drain, worker_thread
from qtasks.utils import AsyncTaskUtils, SyncTaskUtils


class Flaky(Exception):
    pass


class FlakierStill(Flaky):
    pass


def build(app: Any) -> Any:
    """Declare the same tasks on a sync or an async app."""

    @app.task
    def add(a: int, b: int) -> int:
        return a + b

    @app.task(name="reports:daily-é", priority=5)
    async def daily(day: str) -> dict[str, str]:
        await asyncio.sleep(0)
        return {"day": day}

    @app.task
    def count_up(n: int) -> Any:
        yield from range(n)

    @app.task(generate_handler=lambda x: x * 10)
    async def acount(n: int) -> Any:
        for i in range(n):
            yield i

    @app.task(echo=True)
    def whoami(self: Any, x: int) -> dict[str, Any]:
        return {
            "name": self.task_name,
            "uuid": str(self.ctx.task_uuid),
            "attempt": self.ctx.attempt,
        }

    @app.task(echo=True)
    async def awhoami(self: Any) -> str:
        meta = await self.ctx.get_metadata()
        return str(meta.status)

    @app.task(echo=True)
    def cancels(self: Any) -> None:
        self.ctx.cancel("not today")

    attempts: dict[str, int] = {}

    @app.task(retry=2, retry_on_exc=[Flaky], retry_backoff=0.01)
    def flaky(key: str) -> int:
        attempts[key] = attempts.get(key, 0) + 1
        if attempts[key] < 3:
            raise FlakierStill(f"attempt {attempts[key]}")
        return attempts[key]

    @app.task(retry=3, retry_on_exc=[KeyError], retry_backoff=0.01)
    def wrong_error() -> None:
        raise ValueError("not retried")

    @app.task(max_time=0.2)
    async def slow_async() -> None:
        await asyncio.sleep(10)

    @app.task(max_time=0.2)
    def slow_sync() -> None:
        time.sleep(1)

    @app.task
    def exits() -> None:
        raise SystemExit(3)

    @app.task
    def returns_object() -> object:
        return object()

    @app.task(decode=lambda v: {"decoded": v})
    def decoded() -> int:
        return 7

    @app.task(executor="loop")
    def inline(x: int) -> int:
        return x * 2

    return app


@pytest.fixture
def sync_app(broker_url: str) -> Iterator[QueueTasks]:
    app = build(QueueTasks(broker_url=broker_url, config=QueueConfig(result_ttl=60)))
    with worker_thread(app, concurrency=4):
        yield app


@pytest.fixture
async def async_app(broker_url: str) -> AsyncIterator[qtasks.asyncio.QueueTasks]:
    app = build(qtasks.asyncio.QueueTasks(broker_url=broker_url))
    with worker_thread(app, concurrency=4):
        yield app


def test_add_task_without_timeout_returns_new_record(broker_url: str) -> None:
    app = build(QueueTasks(broker_url=broker_url))
    record = app.tasks["add"].add_task(1, 2, priority=9)
    assert record.status == TaskStatusEnum.NEW == "new"
    assert record.priority == 9 and record.args == (1, 2) and record.task_name == "add"
    stored = app.get(record.uuid)
    assert stored is not None and stored.status == "new" and stored.priority == 9


def test_add_task_with_timeout_returns_result(sync_app: QueueTasks) -> None:
    record = sync_app.tasks["add"].add_task(1, 2, timeout=10)
    assert record is not None and record.status == "success" and record.returning == 3
    assert record.attempt == 1 and record.worker_id


def test_app_add_task_by_name_with_colon_and_unicode(sync_app: QueueTasks) -> None:
    record = sync_app.add_task("reports:daily-é", "mon", timeout=10)
    assert record is not None and record.returning == {"day": "mon"}
    assert record.priority == 5


def test_priority_given_to_add_task_is_kept(sync_app: QueueTasks) -> None:
    record = sync_app.add_task("add", 1, 1, priority=42, timeout=10)
    assert record is not None and record.priority == 42


def test_typed_call_and_wait_result(sync_app: QueueTasks) -> None:
    record = sync_app.tasks["add"](2, 3).add_task()
    assert record is not None
    final = record.wait_result(timeout=10)
    assert final is not None and final.returning == 5


def test_generator_tasks_collect_items(sync_app: QueueTasks) -> None:
    record = sync_app.add_task("count_up", 3, timeout=10)
    assert record is not None and record.returning == [0, 1, 2]
    record = sync_app.add_task("acount", 3, timeout=10)
    assert record is not None and record.returning == [0, 10, 20]


def test_echo_gives_task_and_context(sync_app: QueueTasks) -> None:
    record = sync_app.add_task("whoami", 1, timeout=10)
    assert record is not None and record.status == "success", record and record.traceback
    assert record.returning == {"name": "whoami", "uuid": str(record.uuid), "attempt": 1}
    record = sync_app.add_task("awhoami", timeout=10)
    assert record is not None and record.returning == "process"


def test_ctx_cancel_marks_task_cancelled(sync_app: QueueTasks) -> None:
    record = sync_app.add_task("cancels", timeout=10)
    assert record is not None and record.status == "cancel"
    assert record.cancel_reason == "not today"


def test_retry_on_subclass_chains_records(sync_app: QueueTasks) -> None:
    first = sync_app.add_task("flaky", "k1")
    assert first is not None
    final = first.wait_result(timeout=10)
    assert final is not None and final.status == "success" and final.returning == 3
    assert final.retry_parent_uuid is not None
    origin = sync_app.get(first.uuid)
    assert origin is not None and origin.status == "retry"
    assert origin.retry_child_uuid is not None and "FlakierStill" in (origin.traceback or "")


def test_other_exceptions_are_not_retried(sync_app: QueueTasks) -> None:
    record = sync_app.add_task("wrong_error", timeout=10)
    assert record is not None and record.status == "error"
    assert "ValueError: not retried" in (record.traceback or "")
    assert record.retry_child_uuid is None


@pytest.mark.parametrize("name", ["slow_async", "slow_sync"])
def test_max_time_stops_task_on_time(sync_app: QueueTasks, name: str) -> None:
    started = time.monotonic()
    record = sync_app.add_task(name, timeout=10)
    assert record is not None and record.status == "error"
    assert "exceeded max_time" in (record.traceback or "")
    assert time.monotonic() - started < 5  # reported at the limit, not when the task ends


def test_system_exit_and_bad_return_value_become_errors(sync_app: QueueTasks) -> None:
    record = sync_app.add_task("exits", timeout=10)
    assert (
        record is not None and record.status == "error" and "SystemExit" in (record.traceback or "")
    )
    record = sync_app.add_task("returns_object", timeout=10)
    assert record is not None and record.status == "error"
    assert "not JSON-serializable" in (record.traceback or "")
    assert sync_app.add_task("add", 2, 2, timeout=10).returning == 4  # type: ignore[union-attr]


def test_unknown_task_name_is_an_error_not_a_crash(sync_app: QueueTasks) -> None:
    record = sync_app.add_task("no.such.task", timeout=10)
    assert record is not None and record.status == "error"
    assert "no task named 'no.such.task'" in (record.traceback or "")


def test_decode_and_loop_executor(sync_app: QueueTasks) -> None:
    assert sync_app.add_task("decoded", timeout=10).returning == {"decoded": 7}  # type: ignore[union-attr]
    assert sync_app.add_task("inline", 21, timeout=10).returning == 42  # type: ignore[union-attr]


def test_unserializable_argument_raises_in_caller(broker_url: str) -> None:
    app = build(QueueTasks(broker_url=broker_url))
    with pytest.raises(TypeError, match="add"):
        app.tasks["add"].add_task(object(), 1)
    assert app.count() == {}


def test_bulk_add_tasks(sync_app: QueueTasks) -> None:
    add = sync_app.tasks["add"]
    records = sync_app.add_tasks([add(1, 1), ("add", (2, 2)), ("add", (), {"a": 3, "b": 3})])
    records += add.add_tasks([(4, 4), (5, 5)])
    finals = [r.wait_result(timeout=10) for r in records]
    assert [f.returning for f in finals if f] == [2, 4, 6, 8, 10]


def test_bulk_add_tasks_keeps_each_calls_priority(sync_app: QueueTasks) -> None:
    add = sync_app.tasks["add"]
    low, high, plain = sync_app.add_tasks(
        [add(1, 1, priority=-3), add(2, 2, priority=7), add(3, 3)]
    )
    assert [r.priority for r in (low, high, plain)] == [-3, 7, 0]
    stored = [sync_app.get(r.uuid) for r in (low, high, plain)]
    assert [s.priority for s in stored if s] == [-3, 7, 0]
    forced = sync_app.add_tasks([add(4, 4, priority=7)], priority=1)  # the batch's wins
    assert forced[0].priority == 1


def test_chain_feeds_results_forward(sync_app: QueueTasks) -> None:
    add = sync_app.tasks["add"]
    records = SyncTaskUtils.chain(add(1, 2), add(10), add(100)).get(timeout=10)
    assert [r.returning for r in records if r is not None] == [3, 13, 113]


def test_sync_api_works_inside_running_loop(sync_app: QueueTasks) -> None:
    async def inside() -> Any:
        return sync_app.add_task("add", 5, 5, timeout=10)

    record = asyncio.run(inside())
    assert record is not None and record.returning == 10


async def test_async_app_api(async_app: qtasks.asyncio.QueueTasks) -> None:
    record = await async_app.add_task("add", 1, 2, timeout=10)
    assert record is not None and record.returning == 3
    record = await async_app.tasks["reports:daily-é"].add_task("tue", timeout=10)
    assert record is not None and record.returning == {"day": "tue"}
    new = await async_app.tasks["add"].add_task(3, 4)
    assert new is not None
    final = await new.wait_result_async(timeout=10)
    assert final is not None and final.returning == 7
    assert await async_app.get(new.uuid) is not None
    assert await async_app.ping() is True
    add = async_app.tasks["add"]
    chained = await AsyncTaskUtils.chain(add(1, 1), add(1)).get(timeout=10)
    assert [r.returning for r in chained if r is not None] == [2, 3]


def test_routers_and_drain(broker_url: str) -> None:
    router = Router()

    @router.task(name="router:mul")
    def mul(a: int, b: int) -> int:
        return a * b

    app = QueueTasks(broker_url=broker_url)
    app.include_router(router)
    assert app.tasks["router:mul"] is mul
    record = mul.add_task(6, 7)
    assert record is not None
    assert drain(app) == 1
    final = app.get(record.uuid)
    assert final is not None and final.returning == 42


def test_results_expire(broker_url: str) -> None:
    app = build(QueueTasks(broker_url=broker_url, config=QueueConfig(result_ttl=1.0)))
    record = app.add_task("add", 1, 1)
    assert record is not None
    drain(app)
    assert app.get(record.uuid) is not None
    time.sleep(1.1)
    assert app.get(record.uuid) is None


def test_countdown_and_eta_delay_the_start(broker_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    app = build(QueueTasks(broker_url=broker_url))
    add = app.tasks["add"]
    later = add(1, 2).add_task(countdown=0.4)
    at = add(2, 2).add_task(eta=datetime.now(UTC) + timedelta(seconds=0.4))
    assert later is not None and at is not None
    with worker_thread(app):
        time.sleep(0.15)
        assert app.get(later.uuid).status == "new"  # type: ignore[union-attr]
        final = later.wait_result(timeout=10)
        assert final is not None and final.returning == 3
        assert final.started_at is not None and final.started_at >= final.created_at + timedelta(
            seconds=0.35
        )
        assert at.wait_result(timeout=10).returning == 4  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        add(1, 1).add_task(eta=1.0, countdown=1.0)


def test_new_record_has_queue_and_retries(broker_url: str) -> None:
    app = QueueTasks(broker_url=broker_url)

    @app.task(queue="emails", retry=3)
    def send(to: str) -> str:
        return to

    record = send.add_task("a@b")
    assert record is not None and record.queue == "emails" and record.retry == 3
    stored = app.get(record.uuid)
    assert stored is not None and stored.queue == "emails" and stored.retry == 3


def test_forced_stop_releases_running_tasks(broker_url: str) -> None:
    app = QueueTasks(broker_url=broker_url)

    @app.task
    async def sleepy() -> None:
        await asyncio.sleep(30)

    record = sleepy.add_task()
    assert record is not None
    with worker_thread(app) as worker:
        deadline = time.monotonic() + 10
        while app.get(record.uuid).status != "process":  # type: ignore[union-attr]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        worker.request_stop_threadsafe()
        worker.request_stop_threadsafe()  # the second request: stop now, do not wait
    stored = app.get(record.uuid)
    assert stored is not None and stored.status == "new" and stored.attempt == 0


def test_app_stop_stops_its_worker_from_a_task(broker_url: str) -> None:
    app = QueueTasks(broker_url=broker_url)

    @app.task
    def stopper() -> str:
        app.stop()
        return "stopping"

    record = stopper.add_task()
    assert record is not None
    with worker_thread(app) as worker:
        deadline = time.monotonic() + 10
        while worker.processed < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        deadline = time.monotonic() + 10
        while not worker._stopping.is_set():
            assert time.monotonic() < deadline
            time.sleep(0.02)
    assert app.get(record.uuid).returning == "stopping"  # type: ignore[union-attr]
