"""Redis: an enqueue hands its task to a worker waiting for the queue (the wake-up carries
the task, no second round trip to claim it), and no hand-over is lost: not when the
worker is busy elsewhere, stops, or is killed while it waits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis

from qtasks.brokers.redis import RedisBroker
from qtasks.brokers.urls import broker_factory
from tests.conftest import REDIS_URL, flush_redis

from .test_broker_contract import envelope, keep

LEASE = 30.0


@pytest.fixture
async def broker() -> AsyncIterator[RedisBroker]:
    flush_redis()
    b = broker_factory(REDIS_URL, "handover")()
    assert isinstance(b, RedisBroker)
    await b.connect()
    yield b
    await b.close()
    flush_redis()


def stem_keys(suffix: str) -> list[bytes]:
    return list(redis.Redis.from_url(REDIS_URL).scan_iter(f"qtasks:handover:*{suffix}*"))


async def waiting(broker: RedisBroker, worker: str = "w-1", wait: float = 5.0) -> asyncio.Task:
    """A claim that waits, started; returns once the worker is listed as waiting."""
    claim = asyncio.ensure_future(
        broker.claim(["default"], 10, lease=LEASE, worker_id=worker, wait=wait)
    )
    client = redis.Redis.from_url(REDIS_URL)
    for _ in range(200):
        if any(client.zcard(k) for k in stem_keys("idle")):
            return claim
        await asyncio.sleep(0.01)
    raise AssertionError("the worker never waited")


async def test_an_enqueue_hands_its_task_to_the_waiting_worker(broker: RedisBroker) -> None:
    claim = await waiting(broker)
    env = envelope()
    started = time.monotonic()
    await broker.enqueue([env])
    [got] = await asyncio.wait_for(claim, 5)
    assert got.id == env.id and got.attempt == 1 and got.worker_ids == ("w-1",)
    assert time.monotonic() - started < 1.0  # not a poll's or a time-out's later look
    stored = await broker.get(env.id)
    assert stored is not None and stored.status.value == "process"
    assert idle_entries() == 0
    assert stem_keys("inbox") == []


def idle_entries() -> int:
    return sum(redis.Redis.from_url(REDIS_URL).zcard(k) for k in stem_keys("idle"))


async def test_a_stopping_worker_ends_its_wait_and_is_handed_nothing(broker: RedisBroker) -> None:
    claim = await waiting(broker)
    assert await broker.interrupt_wait("w-1", ["default"]) is True
    assert await asyncio.wait_for(claim, 2) == []  # at once, not after its wait
    assert idle_entries() == 0
    assert await broker.interrupt_wait("w-1", ["default"]) is False  # not waiting now
    env = envelope()
    await broker.enqueue([env])  # into the queue, not to the stopped worker
    got = await broker.claim(["default"], 10, lease=LEASE, worker_id="w-2", wait=0)
    assert [d.id for d in got] == [env.id]


async def test_a_wait_that_ends_leaves_no_entry_behind(broker: RedisBroker) -> None:
    """A burst worker's last claim waits, finds nothing and exits: an enqueue after that
    must not be handed to it."""
    assert await broker.claim(["default"], 10, lease=LEASE, worker_id="w-1", wait=0.3) == []
    assert idle_entries() == 0
    assert stem_keys("inbox") == []


async def test_what_was_handed_to_a_cancelled_claim_goes_back(broker: RedisBroker) -> None:
    entry = f"w-1|{LEASE!r}"
    assert await broker._claim_waiting(["default"], 10, LEASE, "w-1", entry, 5.0) == []
    env = envelope()
    await broker.enqueue([env])  # handed to w-1, which will never pop it
    assert len(stem_keys("inbox")) == 1
    await broker._unidle(["default"], "w-1", entry)  # what a cancelled claim does
    assert idle_entries() == 0 and stem_keys("inbox") == []
    got = await broker.claim(["default"], 10, lease=LEASE, worker_id="w-2", wait=0)
    assert [(d.id, d.attempt, d.worker_ids) for d in got] == [(env.id, 1, ("w-2",))]


async def test_a_worker_killed_while_waiting_loses_no_task(broker: RedisBroker) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    entry = f"w-dead|{LEASE!r}"
    # w-dead waited, then died (kill -9): its entry stays, scored by when its wait ended
    assert await broker._claim_waiting(["default"], 10, LEASE, "w-dead", entry, 0.2) == []
    [idle] = stem_keys("idle")
    client.zadd(idle, {entry: time.time() - 0.1})  # that moment has passed
    env = envelope()
    await broker.enqueue([env])  # not handed to the dead worker
    assert stem_keys("inbox") == []
    got = await broker.claim(["default"], 10, lease=LEASE, worker_id="w-2", wait=0)
    assert [d.id for d in got] == [env.id]
    # killed in the very moment after an enqueue handed it a task: the lease brings it back
    client.zadd(idle, {entry: time.time() + 5})
    lost = envelope()
    await broker.enqueue([lost])
    assert len(stem_keys("inbox")) == 1
    [leased] = stem_keys("leased")
    client.zadd(leased, {lost.id: time.time() - 1}, xx=True)  # its lease ran out
    assert await broker.recover_expired(max_attempts=3, retention=keep(None)) == 1
    got = await broker.claim(["default"], 10, lease=LEASE, worker_id="w-3", wait=0)
    assert [(d.id, d.attempt) for d in got] == [(lost.id, 2)]


async def test_a_busy_worker_is_never_left_listed_as_waiting(broker: RedisBroker) -> None:
    """A claim on two queues that finds tasks on the second only: the first queue does
    not keep it as waiting, so no task is handed to it while it is busy."""
    await broker.enqueue([envelope(queue="mail")])
    got = await broker._claim_waiting(["default", "mail"], 10, LEASE, "w-1", f"w-1|{LEASE!r}", 1.0)
    assert len(got) == 1
    assert idle_entries() == 0
