"""What operators read, on every transport: task listings, queue depths, workers and their
heartbeats, per-minute throughput (the broker methods under ``status --watch``, ``tasks
list``, ``workers`` and the dashboard)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from qtasks.brokers.urls import broker_factory
from qtasks.core.broker import Broker
from qtasks.core.inspection import MinuteCounts, QueueDepth, TaskQuery, WorkerInfo, merge_counts
from qtasks.core.records import Outcome
from qtasks.core.status import TaskStatusEnum

from .test_broker_contract import broker, claim, envelope, keep, success

__all__ = ["broker"]  # the contract's fixture, on every transport

TTL = 15.0


def worker(
    worker_id: str = "host-a:101:ab12", *, last_seen: float | None = None, **extra: object
) -> WorkerInfo:
    now = time.time()
    fields: dict[str, object] = {
        "id": worker_id,
        "host": worker_id.split(":")[0],
        "pid": int(worker_id.split(":")[1]),
        "queues": ("default", "mail"),
        "concurrency": 8,
        "started_at": now - 60,
        "last_seen": now if last_seen is None else last_seen,
    }
    fields.update(extra)
    return WorkerInfo(**fields)  # type: ignore[arg-type]


@pytest.fixture
async def other(broker_url: str) -> AsyncIterator[Broker]:
    """The same server, another app's namespace."""
    b = broker_factory(broker_url, "someone-else")()
    await b.connect()
    yield b
    await b.close()


async def test_list_tasks_every_status_newest_first(broker: Broker) -> None:
    claimed = envelope("a")
    delayed = envelope("b", eta=time.time() + 3600)
    waiting = envelope("c")
    done = envelope("a", queue="mail")
    failed = envelope("d", queue="mail")
    await broker.enqueue([claimed, delayed, waiting, done, failed])
    assert await claim(broker, 1) == [claimed.id]
    await claim(broker, 10, queues=("mail",))
    await broker.complete(
        [
            success(done.id, 7),
            Outcome(
                id=failed.id,
                status=TaskStatusEnum.ERROR,
                traceback="Traceback ...\nValueError: boom",
                error_type="builtins.ValueError",
                finished_at=time.time(),
            ),
        ],
        retention=keep(None),
    )
    listed = await broker.list_tasks(TaskQuery())
    ids = [t.id for t in listed]
    order = [failed.id, done.id, waiting.id, delayed.id, claimed.id]
    assert ids == order  # newest first, waiting and delayed ones included
    by_id = {t.id: t for t in listed}
    assert by_id[claimed.id].status == TaskStatusEnum.PROCESS
    assert by_id[waiting.id].status == TaskStatusEnum.NEW
    assert by_id[delayed.id].status == TaskStatusEnum.NEW
    assert by_id[done.id].status == TaskStatusEnum.SUCCESS
    assert by_id[failed.id].traceback == "Traceback ...\nValueError: boom"
    assert by_id[done.id].queue == "mail" and by_id[done.id].task_name == "a"


async def test_list_tasks_filters_and_pages(broker: Broker) -> None:
    envs = [envelope(f"t{i % 2}", queue="q1" if i < 4 else "q2") for i in range(8)]
    await broker.enqueue(envs)
    await claim(broker, 2, queues=("q2",))  # envs[4], envs[5] run
    newest_first = [e.id for e in reversed(envs)]

    async def ids(**query: object) -> list[str]:
        return [t.id for t in await broker.list_tasks(TaskQuery(**query))]  # type: ignore[arg-type]

    assert await ids(queues=("q1",)) == newest_first[4:]
    assert await ids(task_name="t1") == [e.id for e in reversed(envs) if e.task_name == "t1"]
    assert await ids(statuses=(TaskStatusEnum.PROCESS,)) == [envs[5].id, envs[4].id]
    assert await ids(statuses=(TaskStatusEnum.NEW,), queues=("q2",)) == [envs[7].id, envs[6].id]
    assert await ids(statuses=(TaskStatusEnum.SUCCESS,)) == []
    assert await ids(task_name="nope") == []
    # pages: limit, then `before` the last id of the previous page
    first = await ids(limit=3)
    second = await ids(limit=3, before=first[-1])
    third = await ids(limit=3, before=second[-1])
    assert first + second + third == newest_first
    assert await ids(limit=3, before=newest_first[-1]) == []


async def test_list_tasks_sees_only_its_namespace(broker: Broker, other: Broker) -> None:
    mine = envelope("a")
    await broker.enqueue([mine])
    await other.enqueue([envelope("a")])
    assert [t.id for t in await broker.list_tasks(TaskQuery())] == [mine.id]


async def test_queue_depths_ready_delayed_running(broker: Broker, other: Broker) -> None:
    await broker.enqueue([envelope() for _ in range(3)])
    await broker.enqueue([envelope(eta=time.time() + 3600) for _ in range(2)])
    await broker.enqueue([envelope(queue="mail") for _ in range(4)])
    await other.enqueue([envelope() for _ in range(5)])
    await claim(broker, 1)
    await claim(broker, 4, queues=("mail",))
    done = await claim(broker, 1, queues=("mail",))
    assert done == []
    depths = {d.queue: d for d in await broker.queue_depths()}
    assert depths["default"] == QueueDepth(queue="default", ready=2, delayed=2, running=1)
    assert depths["mail"] == QueueDepth(queue="mail", ready=0, delayed=0, running=4)
    assert set(depths) == {"default", "mail"}
    only = await broker.queue_depths(["mail", "empty"])
    assert {d.queue: d for d in only} == {
        "mail": QueueDepth(queue="mail", ready=0, delayed=0, running=4),
        "empty": QueueDepth(queue="empty", ready=0, delayed=0, running=0),
    }


async def test_finished_tasks_leave_the_depths(broker: Broker) -> None:
    env = envelope()
    await broker.enqueue([env])
    await claim(broker)
    await broker.complete([success(env.id)], retention=keep(None))
    depths = await broker.queue_depths(["default"])
    assert depths == [QueueDepth(queue="default", ready=0, delayed=0, running=0)]
    assert all(d.ready + d.delayed + d.running == 0 for d in await broker.queue_depths())


async def test_heartbeats_register_update_and_stop_workers(
    broker: Broker, other: Broker
) -> None:
    assert await broker.workers() == []
    first = worker("host-a:101:ab12", last_seen=time.time() - 5)
    second = worker("host-b:202:cd34", running=("t-1", "t-2"), done=40, failed=3)
    await broker.heartbeat(first, ttl=TTL)
    await broker.heartbeat(second, ttl=TTL)
    await other.heartbeat(worker("host-c:303:ef56"), ttl=TTL)
    seen = await broker.workers()
    assert [w.id for w in seen] == [second.id, first.id]  # most recently heard first
    assert seen[0] == second  # every field as sent
    assert seen[1] == first
    later = worker("host-a:101:ab12", running=("t-9",), done=5, failed=1)
    await broker.heartbeat(later, ttl=TTL)  # an upsert: one record per worker
    seen = {w.id: w for w in await broker.workers()}
    assert seen[first.id] == later and len(seen) == 2
    await broker.worker_stopped(second.id)
    stopped = {w.id: w for w in await broker.workers()}[second.id]
    assert stopped.stopped and not stopped.alive(time.time(), TTL)
    assert stopped.done == 40  # what it did is kept


async def test_a_worker_that_stops_beating_is_shown_dead(broker: Broker) -> None:
    silent = worker("host-a:101:ab12", last_seen=time.time() - 2 * TTL)
    await broker.heartbeat(silent, ttl=TTL)
    [seen] = await broker.workers()
    assert not seen.stopped and not seen.alive(time.time(), TTL)
    assert worker().alive(time.time(), TTL)


async def test_throughput_counts_enqueues_and_heartbeat_outcomes(
    broker: Broker, other: Broker
) -> None:
    minute = int(time.time() // 60)
    await broker.enqueue([envelope() for _ in range(3)])
    await broker.enqueue([envelope(queue="mail")])
    await other.enqueue([envelope() for _ in range(7)])
    await broker.heartbeat(
        worker(),
        ttl=TTL,
        counts=[
            MinuteCounts(minute=minute - 3, queue="default", succeeded=4, failed=1),
            MinuteCounts(minute=minute, queue="default", succeeded=2, retried=1, cancelled=1),
        ],
    )
    await broker.heartbeat(
        worker("host-b:202:cd34"),
        ttl=TTL,
        counts=[MinuteCounts(minute=minute, queue="default", succeeded=5)],
    )
    rows = merge_counts(await broker.throughput(minute - 10))
    now = [r for r in rows if r.minute >= minute]  # (the enqueues may straddle a minute)
    enqueued = {q: sum(r.enqueued for r in now if r.queue == q) for q in ("default", "mail")}
    assert enqueued == {"default": 3, "mail": 1}
    current = {(r.minute, r.queue): r for r in rows}
    assert current[(minute, "default")].succeeded == 7
    assert current[(minute, "default")].retried == 1
    assert current[(minute, "default")].cancelled == 1
    assert current[(minute - 3, "default")].succeeded == 4
    assert current[(minute - 3, "default")].failed == 1
    assert [(r.minute, r.queue) for r in rows] == sorted((r.minute, r.queue) for r in rows)
    recent = merge_counts(await broker.throughput(minute))
    assert all(r.minute >= minute for r in recent)
    assert (minute - 3, "default") not in {(r.minute, r.queue) for r in recent}


async def test_enqueue_counts_reach_other_readers_within_seconds(
    broker_url: str, broker: Broker
) -> None:
    """Another process's view: a producer's single enqueues are in the totals it reads
    within a couple of seconds while its loop runs, and at once when it closes (SQLite
    counts them in memory and writes them once a second)."""
    producer = broker_factory(broker_url)()
    await producer.connect()

    async def enqueued() -> int:
        rows = await broker.throughput(int(time.time() // 60) - 1)
        return sum(r.enqueued for r in rows)

    try:
        await producer.enqueue([envelope()])
        for _ in range(60):  # up to 3 s
            if await enqueued() >= 1:
                break
            await asyncio.sleep(0.05)
        assert await enqueued() == 1
        await producer.enqueue([envelope()])
        await producer.enqueue([envelope(), envelope()])
    finally:
        await producer.close()
    assert await enqueued() == 4


async def test_flush_all_forgets_workers_and_counts(broker: Broker) -> None:
    await broker.enqueue([envelope()])
    await broker.heartbeat(worker(), ttl=TTL)
    await broker.flush_all()
    assert await broker.workers() == []
    assert await broker.throughput(0) == []
    assert await broker.list_tasks(TaskQuery()) == []
