"""Redis data written before app namespaces (keys ``qtasks:{<queue>}:...``,
``qtasks:loc:<id>``, ``qtasks:queues``) is moved in place into the namespace of the app
that connects first, on one server and on a cluster: its real worker processes run it,
and other apps see none of it.

The old data is written by hand, key by key, as the old scripts wrote it (see
``git show dc42231:src/qtasks/brokers/redis.lua``), so these tests do not depend on the
old code.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.cluster

from qtasks.brokers import redis_upgrade
from qtasks.brokers.redis import RedisBroker, queue_stem
from qtasks.core.envelope import Envelope, encode_envelope, encode_value
from qtasks.core.ids import new_task_id
from qtasks.core.records import DeadLetterQuery
from qtasks.core.status import TaskStatusEnum
from tests.acceptance import procapp
from tests.acceptance.conftest import Workers
from tests.redis_cluster import cluster_ports

#: One Redis server, then the local cluster.
on_both = pytest.mark.parametrize("broker_url", ["redis", "redis-cluster"], indirect=True)

Raw = redis.Redis | redis.cluster.RedisCluster

#: A queue name the old layout escaped (braces, ``%``) and the new one escapes more (``:``).
ODD_QUEUE = "q:{1}%7B"
OLD_WORKER = "old-worker"
EVERYTHING = DeadLetterQuery()


@pytest.fixture
def raw(broker_url: str) -> Iterator[Raw]:
    """A plain synchronous client on the same Redis, to write and look at keys directly."""
    if broker_url.startswith("redis+cluster://"):
        client: Raw = redis.cluster.RedisCluster(
            host="127.0.0.1", port=cluster_ports(broker_url)[0]
        )
    else:
        client = redis.Redis.from_url(broker_url)
    yield client
    client.close()


@pytest.fixture
def workers(tmp_path: Path, broker_url: str) -> Iterator[Workers]:
    """Worker processes of ``tests/acceptance/procapp.py`` on this test's Redis."""
    factory = Workers(tmp_path, broker_url)
    yield factory
    factory.kill_all()


# the old layout, by hand ---------------------------------------------------------------------


def old_stem(queue: str) -> str:
    """The old ``queue_stem``: ``qtasks:{queue}:``, only ``%{}`` escaped."""
    safe = queue.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")
    return f"qtasks:{{{safe}}}:"


def old_task(
    raw: Raw,
    name: str,
    args: list[Any],
    *,
    queue: str = "default",
    eta: float | None = None,
    status: str = "new",
    ttl: float | None = None,
    **fields: str | bytes,
) -> str:
    """One task as the old enqueue script wrote it (pointer, record, ready or delayed
    member, registry, wake token), then, if ``status`` is final, as the old complete
    script left it (record fields, finished set, TTLs of record and pointer)."""
    now = time.time()
    eta = eta or now
    env = Envelope(id=new_task_id(), task_name=name, queue=queue, args=tuple(args), eta=eta)
    stem, task_id = old_stem(queue), env.id
    member = f"{2**31 - 1:08x}{int(eta * 1000):012x}{task_id}"  # priority 0
    record = f"{stem}t:{task_id}"
    raw.set(f"qtasks:loc:{task_id}", stem)
    raw.hset(
        record,
        mapping={
            "s": "new",
            "q": queue,
            "b": encode_envelope(env),
            "a": 0,
            "k": member,
            "p": 0,
            "n": name,
            "c": repr(now),
            "u": repr(now),
        },
    )
    raw.sadd("qtasks:queues", stem)
    if status == "new":
        raw.zadd(stem + ("delayed" if eta > now else "ready"), {member: eta if eta > now else 0})
        raw.delete(stem + "wake")
        raw.lpush(stem + "wake", "1")
        return task_id
    final: dict[Any, Any] = {
        "s": status,
        "a": 1,
        "w": OLD_WORKER,
        "ws": f'["{OLD_WORKER}"]',
        "st": repr(now),
        "f": repr(now),
        "u": repr(now),
        **fields,
    }
    raw.hset(record, mapping=final)
    raw.zadd(f"{stem}fin:{status}", {task_id: now + ttl if ttl else float("inf")})
    if ttl:
        raw.pexpire(record, int(ttl * 1000))
        raw.pexpire(f"qtasks:loc:{task_id}", int(ttl * 1000) + 1000)
    return task_id


def write_old(raw: Raw, *, delay: float = 1.5) -> dict[str, str]:
    """A ready task, a delayed one, a finished one with a result, a dead letter, and a
    ready task on a queue with an awkward name: their ids by role."""
    return {
        "ready": old_task(raw, "add", [1, 2]),
        "delayed": old_task(raw, "add", [3, 4], eta=time.time() + delay),
        "finished": old_task(raw, "add", [5, 6], status="success", ttl=3600, r=b"11"),
        "dead": old_task(
            raw,
            "add",
            [7, 8],
            status="error",
            tb="Traceback: boom",
            et="builtins.ValueError",
        ),
        "odd": old_task(raw, "add", [9, 10], queue=ODD_QUEUE),
    }


def old_keys(raw: Raw) -> list[bytes]:
    """Every key of the old layout still there."""
    found = list(raw.scan_iter(match="qtasks:{*", count=1000))
    found += raw.scan_iter(match="qtasks:loc:*", count=1000)
    return found + ([b"qtasks:queues"] if raw.exists("qtasks:queues") else [])


# through real worker processes ---------------------------------------------------------------


@on_both
def test_old_data_moves_into_the_first_app_and_its_worker_runs_it(
    broker_url: str, raw: Raw, workers: Workers
) -> None:
    ids = write_old(raw)
    worker = workers.start("-Q", "default", "-Q", ODD_QUEUE, env={"PROCAPP_NAME": "billing"})
    worker.wait_ready()  # the worker connected first: the old data is billing's now
    assert old_keys(raw) == []
    billing = procapp.make_app(broker_url=broker_url, name="billing")
    mail = procapp.make_app(broker_url=broker_url, name="mail")
    try:
        for role, value in (("ready", 3), ("delayed", 7), ("odd", 19)):
            done = billing.wait_result(ids[role], timeout=30)
            assert done is not None and done.returning == value, role
        odd = billing.get(ids["odd"])
        assert odd is not None and odd.task_name == "add"
        kept = billing.get(ids["finished"])
        assert kept is not None and kept.status == "success" and kept.returning == 11
        stem = queue_stem("billing", "default")
        assert 0 < raw.pttl(f"{stem}t:{ids['finished']}") <= 3600_000  # its TTL came along
        [dead] = billing.dead_letters()
        assert dead.uuid == uuid.UUID(ids["dead"]) and dead.status == "error"
        assert billing.requeue_dead(ids["dead"]) == 1
        requeued = billing.wait_result(ids["dead"], timeout=30)
        assert requeued is not None and requeued.returning == 15
        assert billing.count() == {"success": 5}

        # all of it is billing's: another app sees none of it
        assert mail.count() == {}
        assert all(mail.get(task_id) is None for task_id in ids.values())
        assert mail.dead_letters() == []
        assert old_keys(raw) == []
        worker.send(signal.SIGTERM)
        assert worker.wait_exit(30) == 0
    finally:
        billing.flush_all()
        billing.close()
        mail.close()


# at the broker seam ----------------------------------------------------------------------


def spy_moves(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Record the source of every key and pointer the upgrade moves (each batch)."""
    sources: list[bytes] = []
    move_keys, move_pointers = redis_upgrade.move_keys, redis_upgrade.move_pointers

    async def keys(client: Any, moves: Any, lock: Any) -> int:
        sources.extend(source for source, _ in moves)
        return await move_keys(client, moves, lock)

    async def pointers(client: Any, namespace: str, ids: Any, stem: bytes, lock: Any) -> int:
        sources.extend(redis_upgrade.OLD_POINTER + i for i in ids)
        return await move_pointers(client, namespace, ids, stem, lock)

    monkeypatch.setattr(redis_upgrade, "move_keys", keys)
    monkeypatch.setattr(redis_upgrade, "move_pointers", pointers)
    return sources


async def check_moved(broker: RedisBroker, ids: dict[str, str]) -> None:
    """``broker`` serves the old data written by ``write_old``."""
    assert await broker.count() == {"new": 3, "success": 1, "error": 1}
    stored = await broker.get(ids["finished"])
    assert stored is not None and stored.result == encode_value(11)
    assert [t.id for t in await broker.dead_letters(EVERYTHING)] == [ids["dead"]]
    odd = await broker.get(ids["odd"])
    assert odd is not None and odd.queue == ODD_QUEUE and odd.status is TaskStatusEnum.NEW
    got = await broker.claim(["default", ODD_QUEUE], 10, lease=30, worker_id="w", wait=0)
    assert {d.id for d in got} == {ids["ready"], ids["odd"]}


@on_both
async def test_two_processes_upgrading_at_once_move_each_key_once(
    broker_url: str, raw: Raw, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = write_old(raw, delay=60)
    before = {k for k in old_keys(raw) if k != b"qtasks:queues"}
    sources = spy_moves(monkeypatch)
    first, second = (RedisBroker(broker_url, namespace="billing") for _ in range(2))
    try:
        await asyncio.gather(first.connect(), second.connect())
        assert old_keys(raw) == []
        counted = Counter(sources)
        assert set(counted) == before and set(counted.values()) == {1}
        assert raw.exists(redis_upgrade.LOCK) == 0  # released
        await check_moved(second, ids)
        assert await first.get(ids["ready"]) is not None
    finally:
        await first.flush_all()
        await first.close()
        await second.close()


@on_both
async def test_of_two_apps_upgrading_at_once_one_gets_everything(broker_url: str, raw: Raw) -> None:
    ids = write_old(raw, delay=60)
    billing, mail = (
        RedisBroker(broker_url, namespace="billing"),
        RedisBroker(broker_url, namespace="mail"),
    )
    try:
        await asyncio.gather(billing.connect(), mail.connect())
        assert old_keys(raw) == []
        counts = [await billing.count(), await mail.count()]
        assert sorted(counts, key=len) == [{}, {"new": 3, "success": 1, "error": 1}]
        owner, other = (billing, mail) if counts[0] else (mail, billing)
        await check_moved(owner, ids)
        assert all([await other.get(task_id) is None for task_id in ids.values()])
    finally:
        for b in (billing, mail):
            await b.flush_all()
            await b.close()


@on_both
async def test_a_move_cut_short_is_finished_by_the_next_process(broker_url: str, raw: Raw) -> None:
    """The lock of a process that died mid-move lapses; the next process takes it over
    and finishes: a key it finds already moved (RESTORE done, DEL not) is merged."""
    ids = write_old(raw, delay=60)
    old, new = old_stem("default"), queue_stem("billing", "default")
    # the dead process had copied the finished record and the ready set, deleted neither
    for suffix in (f"t:{ids['finished']}", "ready"):
        payload = raw.dump(old + suffix)
        assert payload is not None
        raw.restore(new + suffix, 0, payload)
    # ... and a task came in on the new side meanwhile (its ready member must survive)
    raw.zadd(new + "ready", {"7fffffff000000000000-late": 0})
    raw.set(redis_upgrade.LOCK, "a-dead-process", px=300)
    broker = RedisBroker(broker_url, namespace="billing")
    try:
        started = time.monotonic()
        await broker.connect()
        assert time.monotonic() - started >= 0.2  # waited for the dead holder's lock
        assert old_keys(raw) == []
        assert raw.zscore(new + "ready", "7fffffff000000000000-late") == 0
        raw.zrem(new + "ready", "7fffffff000000000000-late")
        await check_moved(broker, ids)
    finally:
        await broker.flush_all()
        await broker.close()


@on_both
async def test_without_old_data_the_check_is_one_exists(
    broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_move(*args: Any) -> int:
        raise AssertionError("nothing to move")

    monkeypatch.setattr(redis_upgrade, "_move_all", no_move)
    broker = RedisBroker(broker_url, namespace="billing")
    try:
        await broker.connect()
        await broker.connect()
        assert await broker.count() == {}
    finally:
        await broker.close()


@on_both
async def test_flush_all_reads_glob_characters_in_an_app_name_literally(broker_url: str) -> None:
    """Not the upgrade, but its neighbour: an app's keys are found by ``SCAN MATCH`` on its
    prefix, and ``*?[]\\`` in a name would match other apps' keys unless escaped."""
    from tests.conformance.test_broker_contract import envelope

    pairs = [("a*", "ab"), ("q?", "qx"), ("[ab]", "a"), ("x\\y", "x\\y\\")]
    brokers = {name: RedisBroker(broker_url, namespace=name) for pair in pairs for name in pair}
    try:
        tasks = {}
        for name, broker in brokers.items():
            tasks[name] = envelope("t")
            await broker.enqueue([tasks[name]])
        for wild, _ in pairs:
            await brokers[wild].flush_all()
        for wild, plain in pairs:
            assert await brokers[wild].get(tasks[wild].id) is None
            assert await brokers[plain].get(tasks[plain].id) is not None, (wild, plain)
    finally:
        for broker in brokers.values():
            await broker.flush_all()
            await broker.close()
