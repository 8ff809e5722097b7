"""What a Redis Cluster changes, on one server and on a local 3-node cluster alike: queues
in slots on different nodes, keys outside any queue's slot, and cluster URLs.

The whole conformance suite also runs on the cluster (``redis-cluster`` in
``tests/conftest.py``); these tests add what it cannot see with one queue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.cluster

from qtasks import QueueTasks
from qtasks.brokers.redis import RedisBroker, RedisTarget, pointer, queue_stem
from qtasks.core.broker import DEFAULT_NAMESPACE
from qtasks.core.errors import BrokerError, ConfigurationError
from qtasks.core.records import Outcome
from qtasks.core.status import TaskStatusEnum
from qtasks.testing import drain
from tests.conformance.test_broker_contract import LEASE, WORKER, envelope, keep, success
from tests.redis_cluster import cluster_ports

#: One Redis server, then the local cluster.
on_both = pytest.mark.parametrize("broker_url", ["redis", "redis-cluster"], indirect=True)

#: Three queues of the default app whose keys (hash tags ``{QueueTasks:q0}``, ...) hash to
#: slots on three different nodes of a 3-master cluster (``redis-cli --cluster create``
#: gives each master a third of the 16384 slots).
QUEUES = ("q0", "q2", "q3")


@pytest.fixture
async def broker(broker_url: str) -> AsyncIterator[RedisBroker]:
    b = RedisBroker(broker_url)
    await b.connect()
    yield b
    await b.close()


@pytest.fixture
def raw(broker_url: str) -> Iterator[redis.Redis | redis.cluster.RedisCluster]:
    """A plain synchronous client on the same Redis, to look at keys directly."""
    if broker_url.startswith("redis+cluster://"):
        client: redis.Redis | redis.cluster.RedisCluster = redis.cluster.RedisCluster(
            host="127.0.0.1", port=cluster_ports(broker_url)[0]
        )
    else:
        client = redis.Redis.from_url(broker_url)
    yield client
    client.close()


@pytest.mark.parametrize("broker_url", ["redis-cluster"], indirect=True)
def test_the_queues_lie_on_three_nodes(broker_url: str, raw: redis.cluster.RedisCluster) -> None:
    nodes = {raw.get_node_from_key(queue_stem(DEFAULT_NAMESPACE, q) + "wake").port for q in QUEUES}
    assert nodes == set(cluster_ports(broker_url))


@on_both
async def test_idle_worker_on_many_slots_wakes_for_any_queue(
    broker: RedisBroker, broker_url: str, raw: redis.Redis | redis.cluster.RedisCluster
) -> None:
    producer = RedisBroker(broker_url)
    env = envelope(queue=QUEUES[-1])

    async def enqueue_once_blocked() -> None:
        for _ in range(3000):  # until the worker blocks (30 s at most)
            if sum(int(i["blocked_clients"]) for i in _infos(raw)):
                break
            await asyncio.sleep(0.01)
        await producer.enqueue([env])

    task = asyncio.create_task(enqueue_once_blocked())
    got = await broker.claim(QUEUES, 10, lease=LEASE, worker_id=WORKER, wait=30)
    await task
    await producer.close()
    assert [d.id for d in got] == [env.id]
    # the pops on the other queues' slots were cancelled, not left blocking (the server
    # sees their connections close a moment later)
    for _ in range(500):
        blocked = sum(int(i["blocked_clients"]) for i in _infos(raw))
        if not blocked:
            break
        await asyncio.sleep(0.01)
    assert blocked == 0


def _infos(raw: redis.Redis | redis.cluster.RedisCluster) -> list[dict[str, str]]:
    if isinstance(raw, redis.cluster.RedisCluster):
        return list(raw.info("clients", target_nodes=redis.cluster.RedisCluster.PRIMARIES).values())
    return [raw.info("clients")]


@on_both
async def test_bulk_enqueue_over_many_slots_is_found_counted_and_recovered(
    broker: RedisBroker,
) -> None:
    envs = [envelope(queue=QUEUES[n % 3]) for n in range(30)]
    await broker.enqueue(envs)
    for env in envs:
        stored = await broker.get(env.id)
        assert stored is not None and stored.queue == env.queue
    assert await broker.count() == {"new": 30}
    assert await broker.count([QUEUES[0]]) == {"new": 10}

    got = await broker.claim(QUEUES, 30, lease=0.05, worker_id=WORKER, wait=0)
    assert len(got) == 30
    await asyncio.sleep(0.1)
    # every queue's slot:
    assert await broker.recover_expired(max_attempts=5, retention=keep(60)) == 30

    again = await broker.claim(QUEUES, 30, lease=LEASE, worker_id="worker-b", wait=0)
    await broker.extend([d.id for d in again], lease=LEASE, worker_id="worker-b")
    # no queue given: looked up
    await broker.complete([success(d.id) for d in again], retention=keep(60))
    assert await broker.count() == {"success": 30}


@on_both
async def test_purge_forgets_the_pointers_of_expired_results(
    broker: RedisBroker, raw: redis.Redis | redis.cluster.RedisCluster
) -> None:
    gone, kept = envelope(queue=QUEUES[1]), envelope(queue=QUEUES[2])
    await broker.enqueue([gone, kept])
    await broker.claim(QUEUES, 2, lease=LEASE, worker_id=WORKER, wait=0)
    await broker.complete([success(gone.id)], retention=keep(0.05))
    await broker.complete([success(kept.id)], retention=keep(None))
    await asyncio.sleep(0.1)
    assert await broker.purge_expired() == 1
    assert raw.exists(pointer(DEFAULT_NAMESPACE, gone.id)) == 0
    assert raw.exists(pointer(DEFAULT_NAMESPACE, kept.id)) == 1
    assert await broker.get(gone.id) is None


@on_both
async def test_retry_child_is_found_by_id(broker: RedisBroker) -> None:
    parent = envelope(queue=QUEUES[2], retries_left=1)
    await broker.enqueue([parent])
    await broker.claim(QUEUES, 1, lease=LEASE, worker_id=WORKER, wait=0)
    child = envelope(queue=QUEUES[2], retry_of=parent.id)
    await broker.complete(
        [
            Outcome(
                id=parent.id,
                status=TaskStatusEnum.RETRY,
                finished_at=time.time(),
                retry=child,
            )
        ],
        retention=keep(60),
    )
    stored = await broker.get(child.id)
    assert stored is not None and stored.retry_parent == parent.id


@on_both
def test_app_on_many_queues(broker_url: str) -> None:
    app = QueueTasks(broker_url=broker_url)
    doubles = [app.task(name=f"double-{queue}", queue=queue)(lambda x: 2 * x) for queue in QUEUES]
    records = [doubles[n % 3].add_task(n) for n in range(6)]
    assert drain(app, queues=list(QUEUES)) == 6
    for n, record in enumerate(records):
        final = app.get(record.uuid)
        assert final is not None and final.status == "success" and final.returning == 2 * n


# URLs ---------------------------------------------------------------------------------------


def test_cluster_url_forms() -> None:
    target = RedisTarget.parse("rediss+cluster://u:p@a:7000,[::1]:7001,b?ssl_cert_reqs=none")
    assert target.kind == "cluster"
    assert target.hosts == (("a", 7000), ("::1", 7001), ("b", 6379))
    assert target.options_url == "rediss://u:p@a:7000?ssl_cert_reqs=none"
    with pytest.raises(ConfigurationError, match="only database 0") as info:
        RedisTarget.parse("redis+cluster://user:secret@a:7000/3")
    assert "secret" not in str(info.value)
    with pytest.raises(ConfigurationError, match="not host:port"):
        RedisTarget.parse("redis+cluster://a:7000,:x")


def test_unreachable_cluster_is_a_clear_failure() -> None:
    app = QueueTasks(broker_url="redis+cluster://user:secret@127.0.0.1:7109,127.0.0.1:7110")
    assert app.ping() is False
    with pytest.raises(BrokerError, match=r"127\.0\.0\.1:7109,127\.0\.0\.1:7110") as info:
        app.add_task("anything")
    assert "secret" not in str(info.value)
