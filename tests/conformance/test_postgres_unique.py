"""PostgreSQL's unique keys beyond the conformance suite (test_unique.py): producers racing
one key, each on a connection of its own, make one task, fresh key or taken over; a
producer that waited for a racing taker's transaction is held by that taker; calls taking
many keys in any order never deadlock; a call is one transaction, and a lock left alone
holds nothing; purges never wait for an enqueue; keys as long as the core allows are
stored; a version 5 schema gains the table; and the walk through a call's messages agrees
with the memory transport's, step by step."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest

from qtasks.brokers.memory import MemoryBroker
from qtasks.brokers.postgres import PostgresBroker, PostgresSettings
from qtasks.brokers.postgres_schema import SCHEMA_VERSION, migrate, statements
from qtasks.core.envelope import Envelope
from qtasks.core.errors import BrokerError
from qtasks.core.ids import new_task_id
from qtasks.core.records import Outcome, Retention
from qtasks.core.status import TaskStatusEnum
from tests.conftest import postgres_schema

pytestmark = pytest.mark.timeout(120)

KEEP = Retention(result_ttl=None, dead_ttl=None)
FUTURE = 4_000_000_000.0  # a hold that lasts the whole test


@pytest.fixture
def url() -> Iterator[str]:
    with postgres_schema() as schema_url:
        yield schema_url


@pytest.fixture
async def broker(url: str) -> AsyncIterator[PostgresBroker]:
    b = PostgresBroker(url, namespace="billing")
    await b.connect()
    yield b
    await b.close()


def unique(key: str | None, **fields: Any) -> Envelope:
    return Envelope(
        id=new_task_id(),
        task_name=fields.pop("task_name", "t"),
        queue=fields.pop("queue", "default"),
        created_at=time.time(),
        unique_key=key,
        **fields,
    )


def query(url: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    settings = PostgresSettings.from_url(url)
    with psycopg.connect(settings.conninfo, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{settings.schema}"')
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection whose transaction stays open until the test commits it."""
    return psycopg.connect(PostgresSettings.from_url(url).conninfo)


async def finish(b: PostgresBroker, *ids: str) -> None:
    """Claim what waits and complete ``ids`` (successfully)."""
    await b.claim(["default"], 100, lease=60, worker_id="w", wait=0)
    outcomes = [Outcome(id=i, status=TaskStatusEnum.SUCCESS, finished_at=time.time()) for i in ids]
    await b.complete(outcomes, retention=KEEP)


def race(brokers: list[PostgresBroker], key: str) -> list[tuple[Envelope, dict[str, str]]]:
    """Each broker sends one message with ``key`` from a thread of its own, at once, on its
    own blocking connection (the sync callers' path)."""
    barrier = threading.Barrier(len(brokers))
    answers: list[tuple[Envelope, dict[str, str]]] = []
    lock = threading.Lock()

    def send(b: PostgresBroker) -> None:
        env = unique(key)
        barrier.wait()
        held = b.enqueue_blocking([env])
        assert held is not None
        with lock:
            answers.append((env, held))

    threads = [threading.Thread(target=send, args=(b,)) for b in brokers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == len(brokers)
    return answers


async def test_racing_producers_each_on_its_own_connection_make_one_task(url: str) -> None:
    brokers = [PostgresBroker(url, namespace="billing") for _ in range(8)]
    for b in brokers:
        await b.connect()
    try:
        for round_ in range(10):
            key = f"k{round_}"
            answers = await asyncio.to_thread(race, brokers, key)  # a fresh key
            (taker,) = [env for env, held in answers if not held]
            assert all(held == {env.id: taker.id} for env, held in answers if held)
            await finish(brokers[0], taker.id)
            answers = await asyncio.to_thread(race, brokers, key)  # taken over from a holder
            (second,) = [env for env, held in answers if not held]  # that has finished
            assert all(held == {env.id: second.id} for env, held in answers if held)
            assert await brokers[0].unique_hold("default", key) == (second.id, 0.0)
        # and from one event loop, each broker on its own pool
        envs = [unique("async") for _ in brokers]
        helds = await asyncio.gather(*(b.enqueue([e]) for b, e in zip(brokers, envs, strict=True)))
        (taker,) = [e for e, held in zip(envs, helds, strict=True) if not held]
        assert [h for h in helds if h] == [{e.id: taker.id} for e in envs if e is not taker]
        counts = await brokers[0].count()  # per round: the taker, finished, and the second
        assert counts["success"] == 10 and counts["new"] + counts["process"] == 10 + 1
    finally:
        for b in brokers:
            await b.close()


@pytest.mark.parametrize("locked_only", [True, False], ids=["taker-locked", "taker-took"])
@pytest.mark.parametrize("fresh", [True, False], ids=["fresh-key", "taken-over"])
async def test_a_producer_that_waited_for_a_racing_taker_is_held_by_it(
    broker: PostgresBroker, url: str, fresh: bool, locked_only: bool
) -> None:
    """The waiter starts while the taker's transaction has locked the key (and maybe taken
    it). A single INSERT ... ON CONFLICT DO UPDATE WHERE <rule> fails "taker-took": its
    snapshot predates the taker's commit, so the taker's task looks gone; a first statement
    that does not lock (ON CONFLICT DO NOTHING) fails "taker-locked"."""
    if not fresh:
        old = unique("k")
        await broker.enqueue([old])
        await finish(broker, old.id)
    taker, waiter = unique("k"), unique("k")
    (lock, enqueue) = broker._unique_statements([taker])
    answer: list[dict[str, str] | None] = []
    with connect(url) as conn:
        conn.execute(*lock)
        if not locked_only:
            assert [r for r in conn.execute(*enqueue).fetchall() if r[0]] == []  # took it
        thread = threading.Thread(target=lambda: answer.append(broker.enqueue_blocking([waiter])))
        thread.start()
        await asyncio.sleep(0.3)
        assert thread.is_alive()  # waiting for the taker's transaction
        if locked_only:
            assert [r for r in conn.execute(*enqueue).fetchall() if r[0]] == []
        conn.commit()
    thread.join(10)
    assert answer == [{waiter.id: taker.id}]
    assert (await broker.count())["new"] == 1


async def test_calls_taking_many_keys_in_any_order_never_deadlock(url: str) -> None:
    brokers = [PostgresBroker(url, namespace="billing") for _ in range(8)]
    for b in brokers:
        await b.connect()
    try:
        for round_ in range(5):
            keys = [f"r{round_}-{n}" for n in range(20)]
            rng = random.Random(round_)
            calls = [[unique(k) for k in rng.sample(keys, len(keys))] for _ in brokers]
            helds = await asyncio.gather(
                *(b.enqueue(envs) for b, envs in zip(brokers, calls, strict=True))
            )
            holders: dict[str | None, set[str]] = {}
            for envs, held in zip(calls, helds, strict=True):
                for env in envs:
                    holders.setdefault(env.unique_key, set()).add(held.get(env.id, env.id))
            assert all(len(ids) == 1 for ids in holders.values())  # one holder per key
        assert (await brokers[0].count())["new"] == 5 * 20
    finally:
        for b in brokers:
            await b.close()


async def test_a_call_is_one_transaction_and_a_lock_left_alone_holds_nothing(
    broker: PostgresBroker, url: str
) -> None:
    schema = PostgresSettings.from_url(url).schema
    query(
        url,
        "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'boom'; END $$;"
        f' CREATE TRIGGER boom BEFORE INSERT ON "{schema}".qtasks_tasks FOR EACH ROW'
        " WHEN (NEW.task_name = 'boom') EXECUTE FUNCTION boom()",
    )
    with pytest.raises(BrokerError, match="boom"):
        await broker.enqueue([unique("a"), unique("b", task_name="boom")])
    assert query(url, "SELECT count(*) FROM qtasks_unique") == [(0,)]
    assert query(url, "SELECT count(*) FROM qtasks_tasks") == [(0,)]
    # A call failing between its two statements (cancelled, say) commits lock_keys alone:
    # its fresh row's hold is over, so the next taker takes it, and a purge forgets it.
    taker = unique("ghost")
    for key in ("ghost", "alone"):
        (lock, _) = broker._unique_statements([unique(key, unique_until=FUTURE)])
        query(url, *lock)
    assert await broker.enqueue([taker]) == {}
    assert await broker.unique_hold("default", "ghost") == (taker.id, 0.0)
    await broker.purge_expired()
    assert await broker.unique_hold("default", "alone") is None
    assert await broker.unique_hold("default", "ghost") == (taker.id, 0.0)  # it waits


async def test_a_purge_never_waits_for_an_enqueue_nor_drops_what_it_takes(
    broker: PostgresBroker, url: str
) -> None:
    old, taker = unique("p"), unique("p")
    await broker.enqueue([old])
    await finish(broker, old.id)  # free for good: a purge would drop it
    (lock, enqueue) = broker._unique_statements([taker])
    with connect(url) as conn:
        conn.execute(*lock)
        conn.execute(*enqueue)
        await asyncio.wait_for(broker.purge_expired(), 5)  # skips the locked row
        conn.commit()
    assert await broker.unique_hold("default", "p") == (taker.id, 0.0)
    await broker.purge_expired()
    assert await broker.unique_hold("default", "p") == (taker.id, 0.0)  # it waits


async def test_keys_as_long_as_the_core_allows_are_stored(broker: PostgresBroker, url: str) -> None:
    wide = "".join(chr(random.randint(0x4E00, 0x9FFF)) for _ in range(1000))  # 3000 bytes
    first, second = unique(wide, queue="q" * 255), unique(wide, queue="q" * 255)
    assert await broker.enqueue([first]) == {}
    assert await broker.enqueue([second]) == {second.id: first.id}
    assert await broker.unique_hold("q" * 255, wide) == (first.id, 0.0)
    assert query(url, "SELECT key FROM qtasks_unique") == [(wide,)]


async def test_enqueue_statement_refuses_unique_messages(broker: PostgresBroker) -> None:
    with pytest.raises(ValueError, match="unique"):
        broker.enqueue_statement([unique("k")])
    statement, params = broker.enqueue_statement([unique(None)])
    assert "qtasks_unique" not in statement and params["id"]
    child = unique("k", retry_of=new_task_id())
    statement, _ = broker.enqueue_statement([child], counted=False)  # complete's retries
    assert "qtasks_unique" not in statement


async def test_a_version_5_schema_gains_the_table(url: str) -> None:
    settings = PostgresSettings.from_url(url)
    async with await psycopg.AsyncConnection.connect(settings.conninfo, autocommit=True) as conn:
        applied = await migrate(
            conn,
            statements(settings.schema),
            schema=settings.schema,
            namespace="billing",
            location=settings.location,
            target=5,
        )
        assert applied == [1, 2, 3, 4, 5]
    assert query(url, "SELECT to_regclass('qtasks_unique')") == [(None,)]
    b = PostgresBroker(url, namespace="billing")
    await b.connect()
    try:
        versions = query(url, "SELECT version FROM qtasks_schema_version ORDER BY 1")
        assert SCHEMA_VERSION >= 6 and [v for (v,) in versions] == list(
            range(1, SCHEMA_VERSION + 1)
        )
        first, again = unique("k"), unique("k")
        assert await b.enqueue([first]) == {}
        assert b.enqueue_blocking([again]) == {again.id: first.id}
    finally:
        await b.close()


@pytest.mark.parametrize("seed", range(4))
async def test_calls_walk_their_keys_as_the_memory_transport_does(
    broker: PostgresBroker, seed: int
) -> None:
    """Batches with repeated keys, explicit ``unique_after``, holds over or not, holders
    waiting, running, finished, retried (the key handed over) or purged: the same answers
    and the same holds as the memory transport, which applies core/unique.py in Python."""
    memory = MemoryBroker(uuid.uuid4().hex, namespace="billing")
    rng = random.Random(seed)
    queues, keys = ["q1", "q2"], ["a", "b", "c"]
    sent: dict[str, Envelope] = {}
    for _ in range(120):
        roll = rng.random()
        if roll < 0.2:  # a worker takes what waits and ends some of it
            claimed = {
                d.id for d in await broker.claim(queues, 1000, lease=60, worker_id="w", wait=0)
            }
            mem = {d.id for d in await memory.claim(queues, 1000, lease=60, worker_id="w", wait=0)}
            assert claimed == mem
            outcomes = [_outcome(sent[i], rng) for i in sorted(claimed) if rng.random() < 0.6]
            for o in outcomes:
                if o.retry is not None:
                    sent[o.retry.id] = o.retry
            await broker.complete(outcomes, retention=KEEP)
            await memory.complete(outcomes, retention=KEEP)
        elif roll < 0.25:
            await broker.purge_expired()
            await memory.purge_expired()
        else:
            batch = [
                unique(
                    rng.choice([*keys, None]),
                    queue=rng.choice(queues),
                    unique_after=rng.choice([0.0, 0.0, 50.0, 150.0]),
                    unique_until=rng.choice([0.0, 100.0, 200.0, FUTURE]),
                    unique_while_running=rng.random() < 0.6,
                )
                for _ in range(rng.randint(1, 6))
            ]
            sent.update((e.id, e) for e in batch)
            assert await broker.enqueue(batch) == await memory.enqueue(batch)
        for queue in queues:
            for key in keys:
                assert await broker.unique_hold(queue, key) == await memory.unique_hold(queue, key)
    assert await broker.count() == await memory.count()


def _outcome(env: Envelope, rng: random.Random) -> Outcome:
    status = rng.choice([TaskStatusEnum.SUCCESS, TaskStatusEnum.ERROR, TaskStatusEnum.RETRY])
    child = None
    if status is TaskStatusEnum.RETRY:
        child = Envelope(
            id=new_task_id(),
            task_name=env.task_name,
            queue=env.queue,
            created_at=time.time(),
            retry_of=env.id,
            unique_key=env.unique_key,
            unique_until=env.unique_until,
            unique_while_running=env.unique_while_running,
        )
    return Outcome(id=env.id, status=status, finished_at=time.time(), retry=child)
