"""Unique tasks (core/unique.py) on every transport: a held key makes no second task,
whoever sends it, and is freed by the holder's end, its ``unique_for``, or lease recovery."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import qtasks.asyncio
from qtasks import QueueTasks, TaskStatusEnum
from qtasks.config import QueueConfig
from qtasks.core.envelope import Envelope
from qtasks.core.ids import new_task_id
from qtasks.core.records import Outcome, Retention
from qtasks.testing import drain, worker_thread

pytestmark = pytest.mark.timeout(60)

KEEP = Retention(result_ttl=None, dead_ttl=None)


@pytest.fixture
def app(broker_url: str) -> Iterator[QueueTasks]:
    app = QueueTasks(broker_url=broker_url, config=QueueConfig(lease_seconds=2.0))
    yield app
    app.close()


def test_equal_calls_of_a_unique_task_make_one_task_until_it_runs(app: QueueTasks) -> None:
    runs: list[int] = []

    @app.task(unique=True)
    def report(customer: int, *, full: bool = False) -> int:
        runs.append(customer)
        return customer

    first = report.add_task(42, full=True)
    second = report.add_task(42, full=True)
    other = report.add_task(43, full=True)
    assert first is not None and second is not None and other is not None
    assert not first.deduplicated and not other.deduplicated
    assert second.deduplicated and second.uuid == first.uuid
    assert second.status == TaskStatusEnum.NEW.value
    assert app.count()["new"] == 2
    assert drain(app) == 2
    assert sorted(runs) == [42, 43]
    third = report.add_task(42, full=True)  # the holder finished: the key is free
    assert third is not None and not third.deduplicated and third.uuid != first.uuid


def test_keyword_order_does_not_change_the_default_key(app: QueueTasks) -> None:
    @app.task(unique=True)
    def job(**kwargs: Any) -> None:
        return None

    first = job.add_task(a=1, b=[1, 2])
    second = job.add_task(b=[1, 2], a=1)
    assert first is not None and second is not None
    assert second.deduplicated and second.uuid == first.uuid


def test_explicit_key_spans_arguments_and_unique_for_outlives_the_run(app: QueueTasks) -> None:
    @app.task
    def sync_order(order: int, attempt: int) -> int:
        return order

    first = sync_order.add_task(1, 1, unique_key="order:1", unique_for=2.0)
    again = sync_order.add_task(1, 2, unique_key="order:1", unique_for=2.0)
    assert first is not None and again is not None and again.deduplicated
    assert again.args == (1, 1)  # the holder's record, as stored
    drain(app)
    done = sync_order.add_task(1, 3, unique_key="order:1")  # finished, but held 2 s
    assert done is not None and done.deduplicated
    assert done.status == TaskStatusEnum.SUCCESS.value and done.returning == 1
    time.sleep(2.1)
    fresh = sync_order.add_task(1, 4, unique_key="order:1")
    assert fresh is not None and not fresh.deduplicated


def test_keys_are_per_queue_and_the_app_api_takes_them_too(app: QueueTasks) -> None:
    @app.task(queue="a")
    def in_a() -> None:
        return None

    @app.task(queue="b")
    def in_b() -> None:
        return None

    one = in_a.add_task(unique_key="k")
    two = in_b.add_task(unique_key="k")
    three = app.add_task("in_a", unique_key="k")
    assert one is not None and two is not None and three is not None
    assert not two.deduplicated and three.deduplicated and three.uuid == one.uuid


def test_a_batch_deduplicates_within_itself_and_against_what_waits(app: QueueTasks) -> None:
    @app.task(unique=True)
    def ping(x: int) -> int:
        return x

    waiting = ping.add_task(1)
    records = app.add_tasks([ping(1), ping(2), ping(2), ping(3)])
    assert waiting is not None
    assert [r.deduplicated for r in records] == [True, False, True, False]
    assert records[0].uuid == waiting.uuid and records[2].uuid == records[1].uuid
    assert app.count()["new"] == 3


def test_a_failed_holder_frees_its_key_and_a_retry_keeps_it(app: QueueTasks) -> None:
    calls: list[int] = []
    in_retry, gate = threading.Event(), threading.Event()

    @app.task(unique=True, retry=1, retry_backoff=0)
    def flaky(x: int) -> int:
        calls.append(x)
        if len(calls) > 1:  # the retry's attempt: held open while the test looks
            in_retry.set()
            gate.wait(20)
        raise ValueError(x)

    first = flaky.add_task(5)
    assert first is not None
    with worker_thread(app):
        assert in_retry.wait(20)
        during_retry = flaky.add_task(5)
        assert during_retry is not None and during_retry.deduplicated
        assert during_retry.uuid != first.uuid  # the new attempt holds it, not the failed one
        assert during_retry.retry_parent_uuid == first.uuid
        gate.set()
        wait_for(lambda: app.count().get("error", 0) == 1)
    after = flaky.add_task(5)  # an error (the last attempt) frees the key
    assert after is not None and not after.deduplicated


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_producers_racing_one_key_make_one_task(broker_url: str) -> None:
    apps = [QueueTasks(broker_url=broker_url) for _ in range(4)]
    try:
        handles = []
        for a in apps:

            @a.task(name="race", unique=True)
            def race(x: int) -> int:
                return x

            handles.append(race)
        barrier = threading.Barrier(len(apps) * 2)
        records: list[Any] = []
        lock = threading.Lock()

        def send(handle: Any) -> None:
            barrier.wait()
            record = handle.add_task(7)
            handle.app._sync(handle.app._client.close())  # this thread's connections
            with lock:
                records.append(record)

        threads = [threading.Thread(target=send, args=(h,)) for h in handles * 2]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(records) == 8
        assert len({r.uuid for r in records}) == 1
        assert sum(not r.deduplicated for r in records) == 1
        assert apps[0].count()["new"] == 1
    finally:
        for a in apps:
            a.close()


def test_async_app_deduplicates(broker_url: str) -> None:
    app = qtasks.asyncio.QueueTasks(broker_url=broker_url)

    @app.task(unique=True)
    async def fetch(url: str) -> str:
        return url

    async def main() -> None:
        try:
            first = await fetch.add_task("https://x")
            second = await app.add_task("fetch", "https://x")
            assert first is not None and second is not None
            assert second.deduplicated and second.uuid == first.uuid
        finally:
            await app._client.close()

    asyncio.run(main())


def _unique_envelope(key: str, **fields: Any) -> Envelope:
    return Envelope(
        id=new_task_id(),
        task_name="t",
        queue="default",
        created_at=time.time(),
        unique_key=key,
        **fields,
    )


async def _broker(app: QueueTasks) -> Any:
    broker = app._client.new_broker()
    await broker.connect()
    return broker


def test_lease_recovery_frees_the_key_of_a_lost_task_it_fails(app: QueueTasks) -> None:
    async def main() -> None:
        broker = await _broker(app)
        try:
            holder = _unique_envelope("lost")
            assert await broker.enqueue([holder]) == {}
            (claimed,) = await broker.claim(
                ["default"], 1, lease=0.2, worker_id="dead-worker", wait=0
            )
            assert claimed.id == holder.id
            second = _unique_envelope("lost")
            assert await broker.enqueue([second]) == {second.id: holder.id}  # it runs
            await asyncio.sleep(0.4)  # the worker was killed: its lease runs out
            await broker.recover_expired(max_attempts=1, retention=KEEP)  # failed: lost
            assert (await broker.get(holder.id)).status is TaskStatusEnum.ERROR
            third = _unique_envelope("lost")
            assert await broker.enqueue([third]) == {}
            assert await broker.unique_hold("default", "lost") == (third.id, 0.0)
        finally:
            await broker.close()

    asyncio.run(main())


def test_lease_recovery_that_requeues_a_task_keeps_its_key(app: QueueTasks) -> None:
    async def main() -> None:
        broker = await _broker(app)
        try:
            holder = _unique_envelope("kept")
            await broker.enqueue([holder])
            await broker.claim(["default"], 1, lease=0.2, worker_id="dead-worker", wait=0)
            await asyncio.sleep(0.4)
            await broker.recover_expired(max_attempts=5, retention=KEEP)  # back to new
            again = _unique_envelope("kept")
            assert await broker.enqueue([again]) == {again.id: holder.id}
        finally:
            await broker.close()

    asyncio.run(main())


def test_a_tick_is_taken_once_and_a_stale_tick_never(app: QueueTasks) -> None:
    """What schedules send: ``unique_after`` = the tick, ``unique_until`` = the next tick,
    held whether or not the last run still runs."""

    def tick(at: float, period: float = 10.0) -> Envelope:
        return _unique_envelope(
            "schedule:s", unique_after=at, unique_until=at + period, unique_while_running=False
        )

    async def main() -> None:
        broker = await _broker(app)
        try:
            t0 = 1_000_000.0
            first = tick(t0)
            assert await broker.enqueue([first]) == {}
            racer = tick(t0)
            assert await broker.enqueue([racer]) == {racer.id: first.id}
            nxt = tick(t0 + 10)  # the next tick, though the first still waits
            assert await broker.enqueue([nxt]) == {}
            stale = tick(t0)  # a scheduler far behind sends the first tick again
            assert await broker.enqueue([stale]) == {stale.id: nxt.id}
            assert await broker.unique_hold("default", "schedule:s") == (nxt.id, t0 + 20)
            assert await broker.unique_hold("default", "nothing") is None
        finally:
            await broker.close()

    asyncio.run(main())


def test_a_tick_that_skips_while_the_last_run_runs(app: QueueTasks) -> None:
    async def main() -> None:
        broker = await _broker(app)
        try:
            first = _unique_envelope("s", unique_after=100.0, unique_until=110.0)
            await broker.enqueue([first])
            skipped = _unique_envelope("s", unique_after=110.0, unique_until=120.0)
            assert await broker.enqueue([skipped]) == {skipped.id: first.id}
            (claimed,) = await broker.claim(["default"], 1, lease=5, worker_id="w", wait=0)
            done = Outcome(id=claimed.id, status=TaskStatusEnum.SUCCESS, finished_at=time.time())
            await broker.complete([done], retention=KEEP)
            later = _unique_envelope("s", unique_after=120.0, unique_until=130.0)
            assert await broker.enqueue([later]) == {}
        finally:
            await broker.close()

    asyncio.run(main())


def test_free_keys_are_purged_and_flush_forgets_them(app: QueueTasks) -> None:
    async def main() -> None:
        broker = await _broker(app)
        try:
            done = _unique_envelope("gone")
            waiting = _unique_envelope("waits")
            await broker.enqueue([done])
            (claimed,) = await broker.claim(["default"], 1, lease=5, worker_id="w", wait=0)
            outcome = Outcome(id=claimed.id, status=TaskStatusEnum.SUCCESS, finished_at=time.time())
            await broker.complete([outcome], retention=KEEP)
            await broker.enqueue([waiting])
            await broker.purge_expired()
            assert await broker.unique_hold("default", "gone") is None
            assert await broker.unique_hold("default", "waits") == (waiting.id, 0.0)
            await broker.flush_all()
            assert await broker.unique_hold("default", "waits") is None
        finally:
            await broker.close()

    asyncio.run(main())


def test_bad_unique_options_are_refused_before_anything_is_sent(app: QueueTasks) -> None:
    from qtasks.core.errors import ConfigurationError

    @app.task
    def plain() -> None:
        return None

    with pytest.raises(TypeError):
        plain.add_task(unique_key=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        plain.add_task(unique_key="")
    with pytest.raises(ValueError):
        plain.add_task(unique_key="a\x00b")
    with pytest.raises(ValueError):
        plain.add_task(unique_key="k", unique_for=-1)
    with pytest.raises(ValueError):
        plain.add_task(unique_key="k", unique_for=float("nan"))
    with pytest.raises(ConfigurationError):

        @app.task(unique_for="soon")  # type: ignore[call-overload]
        def bad() -> None:
            return None

    assert app.count().get("new", 0) == 0
