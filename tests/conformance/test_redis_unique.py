"""Unique keys on Redis (``S u:<key>`` in redis.lua), on one server and on the local
cluster: what the conformance suite (test_unique.py) cannot see from outside: the key's
name and slot, that a held message leaves nothing behind, and when the key goes."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis
import redis.cluster
from redis.crc import key_slot

from qtasks.brokers.redis import RedisBroker, pointer, queue_stem
from qtasks.core.broker import DEFAULT_NAMESPACE
from qtasks.core.envelope import Envelope
from qtasks.core.records import DeadLetterQuery, Outcome, Retention
from qtasks.core.status import TaskStatusEnum
from tests.conformance.test_broker_contract import LEASE, WORKER, envelope, success
from tests.redis_cluster import cluster_ports

pytestmark = pytest.mark.timeout(60)

#: One Redis server, then the local cluster.
on_both = pytest.mark.parametrize("broker_url", ["redis", "redis-cluster"], indirect=True)

KEEP = Retention(result_ttl=None, dead_ttl=None)
STEM = queue_stem(DEFAULT_NAMESPACE, "default")
#: Every character a key name or a hash tag could trip on.
ODD_KEY = "a:{b}%7D}:{c%3A | é✓\n}"

Raw = redis.Redis | redis.cluster.RedisCluster


@pytest.fixture
async def broker(broker_url: str) -> AsyncIterator[RedisBroker]:
    b = RedisBroker(broker_url)
    await b.connect()
    yield b
    await b.close()


@pytest.fixture
def raw(broker_url: str) -> Iterator[Raw]:
    """A plain synchronous client on the same Redis, to look at keys directly."""
    if broker_url.startswith("redis+cluster://"):
        client: Raw = redis.cluster.RedisCluster(
            host="127.0.0.1", port=cluster_ports(broker_url)[0]
        )
    else:
        client = redis.Redis.from_url(broker_url)
    yield client
    client.close()


def keyed(key: str, **fields: Any) -> Envelope:
    return envelope(unique_key=key, **fields)


def name(key: str) -> str:
    return f"{STEM}u:{key}"


async def _run(broker: RedisBroker, env: Envelope) -> None:
    """Claim ``env`` (it must be next) and leave it running."""
    (claimed,) = await broker.claim(["default"], 1, lease=LEASE, worker_id=WORKER, wait=0)
    assert claimed.id == env.id


@on_both
async def test_any_key_text_stays_in_the_queues_slot(broker: RedisBroker, raw: Raw) -> None:
    first, second = keyed(ODD_KEY), keyed(ODD_KEY)
    other = keyed(ODD_KEY[:-1])  # a prefix is another key
    assert await broker.enqueue([first, second, other]) == {second.id: first.id}
    assert key_slot(name(ODD_KEY).encode()) == key_slot(f"{STEM}ready".encode())
    assert raw.get(name(ODD_KEY)) == f"{first.id}|0.0".encode()
    assert await broker.unique_hold("default", ODD_KEY) == (first.id, 0.0)
    assert await broker.unique_hold("default", ODD_KEY[:-1]) == (other.id, 0.0)
    assert raw.hget(f"{STEM}t:{first.id}", "uk") == ODD_KEY.encode()


@on_both
async def test_a_held_message_leaves_no_trace(broker: RedisBroker, raw: Raw) -> None:
    holder = keyed("k")
    await broker.enqueue([holder])
    held, plain = keyed("k"), envelope()
    assert await broker.enqueue([held, plain]) == {held.id: holder.id}
    assert raw.get(pointer(DEFAULT_NAMESPACE, held.id)) is None  # the cluster's is gone again
    assert raw.get(pointer(DEFAULT_NAMESPACE, plain.id)) is not None
    assert raw.exists(f"{STEM}t:{held.id}") == 0
    assert raw.zscore(f"{STEM}ids", held.id) is None
    assert await broker.get(held.id) is None
    assert (await broker.count())["new"] == 2
    all_held = keyed("k")
    assert await broker.enqueue([all_held]) == {all_held.id: holder.id}
    counted = await broker.throughput(int(time.time() // 60) - 1)
    assert sum(m.enqueued for m in counted) == 2  # the holder and the plain one


@on_both
async def test_the_same_enqueue_sent_again_is_not_held_by_itself(broker: RedisBroker) -> None:
    env = keyed("again")
    assert await broker.enqueue([env]) == {}
    assert await broker.enqueue([env]) == {}  # a retried round trip that had gone through
    assert (await broker.count())["new"] == 1


@on_both
async def test_the_key_never_expires_while_its_holder_waits_or_runs(
    broker: RedisBroker, raw: Raw
) -> None:
    env = keyed("long", unique_until=time.time() + 0.2)
    await broker.enqueue([env])
    assert raw.pttl(name("long")) == -1
    await _run(broker, env)
    await asyncio.sleep(0.3)  # the hold's end passed: only the run holds it now
    assert raw.pttl(name("long")) == -1
    again = keyed("long")
    assert await broker.enqueue([again]) == {again.id: env.id}


@on_both
async def test_a_finished_holder_lets_its_key_go_after_the_hold(
    broker: RedisBroker, raw: Raw
) -> None:
    until = time.time() + 30
    env = keyed("for", unique_until=until)
    await broker.enqueue([env])
    await _run(broker, env)
    await broker.complete([success(env.id)], retention=KEEP)
    # held until then (still by the rule), then gone: 10 s later for other hosts' clocks
    assert raw.pexpiretime(name("for")) == math.ceil(until * 1000) + 10_000
    soon = keyed("now")  # a hold already over when the holder ends: gone at once
    await broker.enqueue([soon])
    await _run(broker, soon)
    await broker.complete([success(soon.id)], retention=KEEP)
    assert raw.exists(name("now")) == 0


@on_both
async def test_a_key_another_task_took_is_left_alone(broker: RedisBroker, raw: Raw) -> None:
    tick = keyed("s", unique_until=time.time() + 0.5, unique_while_running=False)
    await broker.enqueue([tick])
    await _run(broker, tick)
    await asyncio.sleep(0.6)
    later = keyed("s", unique_while_running=False)
    assert await broker.enqueue([later]) == {}  # the hold ended, the first still runs
    await broker.complete([success(tick.id)], retention=KEEP)
    assert raw.get(name("s")) == f"{later.id}|0.0".encode()
    assert raw.pttl(name("s")) == -1


@on_both
async def test_cancel_and_lost_workers_let_keys_go(broker: RedisBroker, raw: Raw) -> None:
    waiting, lost = keyed("c"), keyed("l")
    await broker.enqueue([waiting])
    await broker.cancel(waiting.id, "no", retention=KEEP)
    assert raw.exists(name("c")) == 0
    await broker.enqueue([lost])
    await broker.claim(["default"], 1, lease=0.1, worker_id=WORKER, wait=0)
    await asyncio.sleep(0.2)
    await broker.recover_expired(max_attempts=1, retention=KEEP)
    assert raw.exists(name("l")) == 0


@on_both
async def test_a_retry_takes_the_key_over(broker: RedisBroker, raw: Raw) -> None:
    until = time.time() + 30
    parent = keyed("r", unique_until=until)
    await broker.enqueue([parent])
    await _run(broker, parent)
    child = keyed("r", unique_until=until, retry_of=parent.id, eta=time.time() + 60)
    retry = Outcome(id=parent.id, status=TaskStatusEnum.RETRY, finished_at=time.time(), retry=child)
    await broker.complete([retry], retention=KEEP)
    assert await broker.unique_hold("default", "r") == (child.id, until)
    assert raw.pttl(name("r")) == -1  # the parent ended, but its key is the child's now
    again = keyed("r")
    assert await broker.enqueue([again]) == {again.id: child.id}


@on_both
async def test_a_requeued_dead_letter_keeps_the_key_it_still_holds(
    broker: RedisBroker, raw: Raw
) -> None:
    env = keyed("d", unique_until=time.time() + 30)
    await broker.enqueue([env])
    await _run(broker, env)
    failed = Outcome(id=env.id, status=TaskStatusEnum.ERROR, finished_at=time.time())
    await broker.complete([failed], retention=KEEP)
    assert raw.pttl(name("d")) > 0
    assert await broker.requeue_dead(DeadLetterQuery()) == 1
    assert raw.pttl(name("d")) == -1
    again = keyed("d")
    assert await broker.enqueue([again]) == {again.id: env.id}


@on_both
async def test_only_calls_with_a_key_carry_unique_fields(broker: RedisBroker) -> None:
    plain = [envelope(), envelope(queue="other")]
    calls = broker._enqueue_calls([*plain, keyed("x", queue="other")])
    (_, first), (_, second) = calls
    assert first[2] in ("0", "1") and len(first) == 3 + 8
    assert second[2] in ("u0", "u1") and len(second) == 3 + 2 * 12
    assert second[3 + 8 : 3 + 12] == ["", "", "", ""]
    assert second[3 + 12 + 8 :] == ["x", "0.0", "0.0", "1"]


@pytest.mark.parametrize("broker_url", ["redis"], indirect=True)  # (a cluster: async only)
async def test_a_blocking_enqueue_answers_held_messages_too(broker: RedisBroker) -> None:
    holder, again = keyed("b"), keyed("b")
    assert broker.enqueue_blocking([holder]) == {}
    assert broker.enqueue_blocking([again]) == {again.id: holder.id}
