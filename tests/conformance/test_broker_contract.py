"""The broker contract, run against every transport through the ``broker_url`` fixture."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from qtasks.brokers.urls import broker_factory
from qtasks.core.broker import Broker
from qtasks.core.envelope import Envelope, encode_value
from qtasks.core.errors import WORKER_LOST
from qtasks.core.ids import new_task_id
from qtasks.core.records import CancelState, DeadLetterQuery, Outcome, Retention
from qtasks.core.status import TaskStatusEnum

LEASE = 30.0
WORKER = "worker-a"


def envelope(
    name: str = "t",
    *,
    priority: int = 0,
    eta: float | None = None,
    queue: str = "default",
    **extra: Any,
) -> Envelope:
    now = time.time()
    return Envelope(
        id=new_task_id(),
        task_name=name,
        queue=queue,
        priority=priority,
        eta=eta if eta is not None else now,
        created_at=now,
        **extra,
    )


def keep(seconds: float | None) -> Retention:
    """Results and dead letters both kept ``seconds``."""
    return Retention(result_ttl=seconds, dead_ttl=seconds)


def success(task_id: str, value: Any = None) -> Outcome:
    return Outcome(
        id=task_id,
        status=TaskStatusEnum.SUCCESS,
        result=encode_value(value),
        finished_at=time.time(),
    )


@pytest.fixture
async def broker(broker_url: str) -> AsyncIterator[Broker]:
    b = broker_factory(broker_url)()
    await b.connect()
    yield b
    await b.close()


async def claim(
    broker: Broker,
    limit: int = 100,
    *,
    queues: tuple[str, ...] = ("default",),
    wait: float = 0.0,
    worker: str = WORKER,
    lease: float = LEASE,
) -> list[str]:
    got = await broker.claim(queues, limit, lease=lease, worker_id=worker, wait=wait)
    return [d.id for d in got]


async def test_enqueued_task_is_claimed_once(broker: Broker) -> None:
    env = envelope()
    await broker.enqueue([env])
    assert await claim(broker) == [env.id]
    assert await claim(broker) == []
    stored = await broker.get(env.id)
    assert stored is not None and stored.status is TaskStatusEnum.PROCESS
    assert stored.attempt == 1 and stored.worker_id == WORKER


async def test_higher_priority_first_then_eta_then_fifo(broker: Broker) -> None:
    now = time.time()
    low = envelope(priority=-5)
    fifo = [envelope(priority=1, eta=now - 1) for _ in range(3)]
    high = envelope(priority=10)
    earlier = envelope(priority=1, eta=now - 100)
    await broker.enqueue([low, *fifo, high, earlier])
    ids = await claim(broker, limit=10)
    assert ids == [high.id, earlier.id, *[e.id for e in fifo], low.id]


async def test_claim_takes_at_most_limit(broker: Broker) -> None:
    await broker.enqueue([envelope() for _ in range(5)])
    assert len(await claim(broker, limit=2)) == 2
    assert len(await claim(broker, limit=10)) == 3


async def test_claim_only_from_given_queues(broker: Broker) -> None:
    a, b = envelope(queue="a"), envelope(queue="b")
    await broker.enqueue([a, b])
    assert await claim(broker, queues=("b",)) == [b.id]
    assert await claim(broker, queues=("a", "b")) == [a.id]


async def test_delayed_task_waits_for_its_eta(broker: Broker) -> None:
    env = envelope(eta=time.time() + 0.3)
    await broker.enqueue([env])
    assert await claim(broker) == []
    assert await claim(broker, wait=3.0) == [env.id]


async def test_blocking_claim_wakes_when_work_arrives(broker: Broker, broker_url: str) -> None:
    producer = broker_factory(broker_url)()
    await producer.connect()
    env = envelope()

    async def enqueue_later() -> None:
        await asyncio.sleep(0.2)
        await producer.enqueue([env])

    started = time.monotonic()
    task = asyncio.create_task(enqueue_later())
    assert await claim(broker, wait=5.0) == [env.id]
    assert time.monotonic() - started < 4.0  # woken by the enqueue, not by the timeout
    await task
    await producer.close()


async def test_blocking_claim_returns_empty_after_wait(broker: Broker) -> None:
    assert await claim(broker, wait=0.1) == []


async def test_complete_stores_result_and_acknowledges(broker: Broker) -> None:
    env = envelope()
    await broker.enqueue([env])
    await claim(broker)
    await broker.complete([success(env.id, {"sum": 3})], retention=keep(60))
    stored = await broker.get(env.id)
    assert stored is not None and stored.status is TaskStatusEnum.SUCCESS
    assert stored.result == encode_value({"sum": 3})
    assert await broker.recover_expired(max_attempts=5, retention=keep(60)) == 0


async def test_complete_many_in_one_call(broker: Broker) -> None:
    envs = [envelope() for _ in range(50)]
    await broker.enqueue(envs)
    ids = await claim(broker, limit=50)
    await broker.complete([success(i, n) for n, i in enumerate(ids)], retention=keep(60))
    counts = await broker.count()
    assert counts.get("success") == 50


async def test_late_duplicate_outcome_does_not_overwrite(broker: Broker) -> None:
    env = envelope()
    await broker.enqueue([env])
    await claim(broker)
    await broker.complete([success(env.id, "first")], retention=keep(60))
    await broker.complete([success(env.id, "second")], retention=keep(60))
    stored = await broker.get(env.id)
    assert stored is not None and stored.result == encode_value("first")


async def test_expired_lease_is_recovered_with_attempt_incremented(broker: Broker) -> None:
    env = envelope()
    await broker.enqueue([env])
    assert await claim(broker, lease=0.05) == [env.id]
    await asyncio.sleep(0.1)
    assert await broker.recover_expired(max_attempts=5, retention=keep(60)) == 1
    assert await claim(broker, worker="worker-b") == [env.id]
    stored = await broker.get(env.id)
    assert stored is not None and stored.attempt == 2 and stored.worker_id == "worker-b"
    assert stored.worker_ids == (WORKER, "worker-b")


async def test_extended_lease_is_not_recovered(broker: Broker) -> None:
    env = envelope()
    await broker.enqueue([env])
    await claim(broker, lease=0.2)
    await broker.extend([env.id], lease=30, worker_id=WORKER)
    await asyncio.sleep(0.3)
    assert await broker.recover_expired(max_attempts=5, retention=keep(60)) == 0


async def test_task_whose_workers_keep_dying_is_failed(broker: Broker) -> None:
    env = envelope()
    await broker.enqueue([env])
    for _ in range(2):
        assert await claim(broker, lease=0.01) == [env.id]
        await asyncio.sleep(0.05)
        await broker.recover_expired(max_attempts=2, retention=keep(60))
    stored = await broker.get(env.id)
    assert stored is not None and stored.status is TaskStatusEnum.ERROR
    assert stored.traceback is not None and "WorkerLostError" in stored.traceback
    assert stored.error_type == "qtasks.core.errors.WorkerLostError"


async def test_release_returns_task_without_counting_attempt(broker: Broker) -> None:
    env = envelope()
    await broker.enqueue([env])
    await claim(broker)
    await broker.release([env.id], worker_id=WORKER, retention=keep(60))
    stored = await broker.get(env.id)
    assert stored is not None and stored.status is TaskStatusEnum.NEW and stored.attempt == 0
    assert stored.worker_ids == ()
    assert await claim(broker) == [env.id]


async def test_wait_wakes_when_result_is_stored(broker: Broker, broker_url: str) -> None:
    env = envelope()
    await broker.enqueue([env])
    await claim(broker)
    other = broker_factory(broker_url)()
    await other.connect()

    async def finish_later() -> None:
        await asyncio.sleep(0.2)
        await other.complete([success(env.id, 42)], retention=keep(60))

    task = asyncio.create_task(finish_later())
    started = time.monotonic()
    stored = await broker.wait(env.id, timeout=5)
    assert time.monotonic() - started < 2.0
    assert stored is not None and stored.status is TaskStatusEnum.SUCCESS
    await task
    await other.close()


async def test_wait_times_out_with_unfinished_record(broker: Broker) -> None:
    env = envelope()
    await broker.enqueue([env])
    stored = await broker.wait(env.id, timeout=0.1)
    assert stored is not None and stored.status is TaskStatusEnum.NEW


async def test_results_expire_after_ttl(broker: Broker) -> None:
    env, kept = envelope(), envelope()
    await broker.enqueue([env, kept])
    await claim(broker)
    await broker.complete([success(env.id)], retention=keep(0.05))
    await broker.complete([success(kept.id)], retention=keep(None))
    await asyncio.sleep(0.1)
    assert await broker.get(env.id) is None
    assert await broker.purge_expired() == 1
    assert await broker.get(kept.id) is not None


async def test_retry_outcome_enqueues_child_atomically(broker: Broker) -> None:
    env = envelope(retries_left=1)
    await broker.enqueue([env])
    await claim(broker)
    child = envelope(retries_left=0, retry_of=env.id)
    await broker.complete(
        [
            Outcome(
                id=env.id,
                status=TaskStatusEnum.RETRY,
                traceback="boom",
                finished_at=time.time(),
                retry=child,
            )
        ],
        retention=keep(60),
    )
    parent = await broker.get(env.id)
    assert parent is not None and parent.status is TaskStatusEnum.RETRY
    assert parent.retry_child == child.id
    assert await claim(broker) == [child.id]
    stored_child = await broker.get(child.id)
    assert stored_child is not None and stored_child.retry_parent == env.id


@pytest.mark.parametrize("name", ["reports:daily", "отчёт:日報", "a b/c\\d'\"%_*"])
async def test_any_task_name_is_carried(broker: Broker, name: str) -> None:
    env = envelope(name)
    await broker.enqueue([env])
    assert await claim(broker) == [env.id]
    stored = await broker.get(env.id)
    assert stored is not None and stored.task_name == name


async def test_unserializable_arguments_fail_at_enqueue(broker: Broker) -> None:
    bad = envelope(args=(object(),))
    good = envelope()
    with pytest.raises(TypeError, match="not JSON-serializable"):
        await broker.enqueue([good, bad])
    assert await broker.count() == {}


async def test_flush_all_empties_everything(broker: Broker) -> None:
    await broker.enqueue([envelope() for _ in range(3)])
    await broker.flush_all()
    assert await broker.count() == {}
    assert await claim(broker) == []


async def test_ping(broker: Broker) -> None:
    assert await broker.ping() is True


async def test_failure_keeps_its_exception_type(broker: Broker) -> None:
    env = envelope()
    await broker.enqueue([env])
    await claim(broker)
    await broker.complete(
        [
            Outcome(
                id=env.id,
                status=TaskStatusEnum.ERROR,
                traceback="Traceback ...\nValueError: bad",
                error_type="builtins.ValueError",
                finished_at=time.time(),
            )
        ],
        retention=keep(60),
    )
    stored = await broker.get(env.id)
    assert stored is not None and stored.error_type == "builtins.ValueError"
    assert stored.worker_ids == (WORKER,)


async def test_bulk_enqueue_keeps_fifo_order(broker: Broker) -> None:
    envs = [envelope(eta=1.0) for _ in range(123)]  # equal priority and eta: FIFO decides
    await broker.enqueue(envs)
    assert await claim(broker, limit=200) == [e.id for e in envs]


async def test_extend_reports_cancel_requests_of_running_tasks(broker: Broker) -> None:
    running, waiting = envelope(), envelope()
    await broker.enqueue([running, waiting])
    await claim(broker, limit=1)
    assert await broker.extend([running.id], lease=30, worker_id=WORKER) == {}
    assert await broker.cancel(running.id, "stop", retention=keep(60)) is CancelState.REQUESTED
    assert await broker.cancel(waiting.id, "", retention=keep(60)) is CancelState.CANCELLED
    assert await broker.extend([running.id], lease=30, worker_id=WORKER) == {running.id: "stop"}
    assert await broker.extend([running.id], lease=30, worker_id="worker-b") == {}
    stored = await broker.get(waiting.id)
    assert stored is not None and stored.status is TaskStatusEnum.CANCEL
    assert await claim(broker) == []  # the cancelled one is gone from the queue


async def test_released_or_lost_task_whose_cancel_was_requested_is_cancelled(
    broker: Broker,
) -> None:
    released, lost = envelope(), envelope()
    await broker.enqueue([released, lost])
    await claim(broker, lease=0.05)
    for env in (released, lost):
        await broker.cancel(env.id, "bye", retention=keep(60))
    await broker.release([released.id], worker_id=WORKER, retention=keep(60))
    await asyncio.sleep(0.1)
    assert await broker.recover_expired(max_attempts=5, retention=keep(60)) == 1
    for env in (released, lost):
        stored = await broker.get(env.id)
        assert stored is not None and stored.status is TaskStatusEnum.CANCEL
        assert stored.cancel_reason == "bye"
    assert await claim(broker) == []


async def test_at_most_once_task_fails_when_its_lease_runs_out(broker: Broker) -> None:
    once, normal = envelope(), envelope()
    await broker.enqueue([once, normal])
    await claim(broker, lease=0.05)
    await broker.start_at_most_once([once.id], worker_id=WORKER)
    await asyncio.sleep(0.1)
    assert await broker.recover_expired(max_attempts=5, retention=keep(60)) == 2
    stored = await broker.get(once.id)
    assert stored is not None and stored.status is TaskStatusEnum.ERROR
    assert stored.error_type == WORKER_LOST and "at most once" in (stored.traceback or "")
    assert await claim(broker) == [normal.id]  # the other one is simply delivered again


async def test_dead_letters_are_error_records_kept_by_dead_ttl(broker: Broker) -> None:
    failed, fine = envelope("f"), envelope("g")
    await broker.enqueue([failed, fine])
    await claim(broker, limit=2)
    error = Outcome(
        id=failed.id, status=TaskStatusEnum.ERROR, traceback="E: x", finished_at=time.time()
    )
    retention = Retention(result_ttl=0.05, dead_ttl=60)
    await broker.complete([error, success(fine.id)], retention=retention)
    await asyncio.sleep(0.1)
    assert await broker.get(fine.id) is None
    (dead,) = await broker.dead_letters(DeadLetterQuery())
    assert dead.id == failed.id and dead.traceback == "E: x"
    assert await broker.dead_letters(DeadLetterQuery(task_name="g")) == []
    assert await broker.requeue_dead(DeadLetterQuery(ids=(failed.id,))) == 1
    stored = await broker.get(failed.id)
    assert stored is not None and stored.status is TaskStatusEnum.NEW and stored.attempt == 0
    assert await claim(broker) == [failed.id]
