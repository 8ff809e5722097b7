"""PostgreSQL's side of inspection, beyond the conformance suite: listings walk the primary
key ``(app, id)``, which the statements finding tasks by id probe whatever the statistics;
``enqueued`` is counted without a row lock
that enqueuers share; heartbeats fold the count pieces and drop what is past retention; a
version 4 schema upgrades in place."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest

from qtasks.brokers.postgres import PostgresBroker, PostgresSettings
from qtasks.brokers.postgres_inspect import COUNTS_KEEP_MINUTES, WORKER_KEEP
from qtasks.brokers.postgres_schema import SCHEMA_VERSION, app_key, migrate, statements
from qtasks.core.envelope import Envelope, encode_envelope
from qtasks.core.inspection import MinuteCounts, TaskQuery, WorkerInfo
from qtasks.core.records import Outcome
from qtasks.core.status import TaskStatusEnum
from tests.conftest import postgres_schema

from .test_broker_contract import claim, envelope, keep, success
from .test_inspection import TTL, worker


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


def query(url: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    settings = PostgresSettings.from_url(url)
    with psycopg.connect(settings.conninfo, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{settings.schema}"')
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def counts_rows(url: str, app: str = "billing") -> list[tuple[Any, ...]]:
    """(folded, minute, queue, enqueued, succeeded) of an app's pieces and folded rows."""
    return query(
        url,
        "SELECT folded, minute, queue, enqueued, succeeded FROM qtasks_counts"
        " WHERE app = %(app)s ORDER BY 1, 2, 3",
        {"app": app_key(app)},
    )


async def test_listings_walk_the_primary_key_of_the_app(url: str) -> None:
    """Another app's ten thousand tasks are never walked to list this app's three hundred
    (the plan PostgreSQL picks, on a table worth indexing)."""
    mine, theirs = (PostgresBroker(url, namespace=name) for name in ("billing", "mail"))
    await mine.connect()
    await theirs.connect()
    try:
        await mine.enqueue([envelope() for _ in range(300)])
        for _ in range(5):
            await theirs.enqueue([envelope() for _ in range(2000)])
        query(url, "ANALYZE qtasks_tasks")
        first = await mine.list_tasks(TaskQuery(limit=20))
        base = {
            "app": app_key("billing"),
            "statuses": None,
            "queues": None,
            "task_name": None,
            "limit": 20,
            "before": first[-1].id,
        }
        for name in ("list_tasks", "list_tasks_before"):
            lines = [line.strip() for (line,) in query(url, f"EXPLAIN {mine._sql[name]}", base)]
            plan = "\n".join(lines)
            assert lines[1].startswith("->  Index Scan Backward using qtasks_tasks_pkey"), plan
            assert lines[2].startswith(("Index Cond: (app = ", "Index Cond: ((app = ")), plan
            assert ("(id < " in lines[2]) == (name == "list_tasks_before"), plan
            assert not any("Sort" in line for line in lines), plan  # the key's order
        second = await mine.list_tasks(TaskQuery(limit=20, before=first[-1].id))
        ids = [t.id for t in first + second]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == 40
    finally:
        await mine.close()
        await theirs.close()


async def test_finding_tasks_by_id_probes_the_key_without_statistics(
    broker: PostgresBroker,
) -> None:
    """Claims, completions and recovery name the ids outright ("app = ... AND id = ANY"),
    so the key is probed for them even on a table never analysed, where "app = ..." alone
    would have the planner walk every row of the app."""
    await broker.enqueue([envelope() for _ in range(5000)])
    got = await broker.claim(["default"], 10, lease=-1, worker_id="w", wait=0)
    recover = {
        "app": broker._app,
        "message": "lost",
        "lost_once": "lost",
        "error_type": "Lost",
        "ttl": None,
        "dead_ttl": None,
        "max_attempts": 3,
        "work": "w",
        "done": "d",
    }
    checked = {
        "claim_alone": broker._claim_params(["default"], 10, 60.0, "w"),
        "complete": broker._complete_params([success(d.id) for d in got], keep(None)),
        "recover_expired": recover,
    }
    with psycopg.connect(broker.settings.conninfo) as conn:  # rolled back: ANALYZE writes
        conn.execute(f'SET search_path TO "{broker.settings.schema}"')
        for name, params in checked.items():
            cursor = conn.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {broker._sql[name]}", params)
            lines = [line.strip() for (line,) in cursor.fetchall()]
            plan = "\n".join(lines)
            probes = [i for i, line in enumerate(lines) if "qtasks_tasks_pkey" in line]
            assert probes, plan
            for i in probes:  # by app and id: a probe per task, never a walk of the app
                assert lines[i + 1].startswith("Index Cond: ((app = "), plan
                assert " AND (id = " in lines[i + 1], plan
        conn.rollback()


async def test_an_open_enqueue_transaction_does_not_hold_up_other_enqueuers(
    url: str, broker: PostgresBroker
) -> None:
    """A producer whose transaction (Django's, say) enqueued and has not committed yet holds
    no lock another enqueue of the same queue, the same minute, would wait for."""
    settings = PostgresSettings.from_url(url)
    async with await psycopg.AsyncConnection.connect(settings.conninfo) as conn:
        await conn.execute(*broker.enqueue_statement([envelope()]))  # left uncommitted
        await asyncio.wait_for(broker.enqueue([envelope()]), timeout=5)
        await conn.commit()
    rows = await broker.throughput(0)
    assert sum(r.enqueued for r in rows) == 2


async def test_retry_children_are_not_counted_as_enqueued(broker: PostgresBroker) -> None:
    env = envelope()
    await broker.enqueue([env])
    await claim(broker)
    child = Envelope(id=envelope().id, task_name="t", queue="default", retry_of=env.id)
    retry = Outcome(id=env.id, status=TaskStatusEnum.RETRY, finished_at=time.time(), retry=child)
    await broker.complete([retry], retention=keep(None))
    assert (await broker.get(child.id)) is not None
    assert sum(r.enqueued for r in await broker.throughput(0)) == 1


async def test_heartbeats_fold_the_pieces_and_drop_what_is_past_retention(
    url: str, broker: PostgresBroker
) -> None:
    other = PostgresBroker(url, namespace="mail")
    await other.connect()
    try:
        minute = int(time.time() // 60)
        for _ in range(5):
            await broker.enqueue([envelope(), envelope(queue="mail")])
        await other.enqueue([envelope()])
        old = minute - COUNTS_KEEP_MINUTES - 5
        query(
            url,
            "INSERT INTO qtasks_counts (app, minute, queue, succeeded, folded)"
            " VALUES (%(app)s, %(old)s, 'default', 9, false), (%(app)s, %(old)s, 'mail', 9, true)",
            {"app": app_key("billing"), "old": old},
        )
        before = await broker.throughput(0)
        assert len(counts_rows(url)) == 10 + 2  # a piece per enqueue and queue, the old ones
        silent = worker("host-z:9:zz", last_seen=time.time() - WORKER_KEEP - 60)
        await broker.heartbeat(silent, ttl=TTL)  # an hour too late: recorded, then forgotten
        await broker.heartbeat(
            worker(),
            ttl=TTL,
            counts=[MinuteCounts(minute=minute, queue="default", succeeded=3)],
        )
        after = await broker.throughput(0)
        assert [(r.minute, r.queue) for r in after] == [(r.minute, r.queue) for r in before]
        by_key = {(r.minute, r.queue): r for r in after}
        straddled = {r.minute for r in after}  # the enqueues may straddle a minute
        assert sum(r.enqueued for r in after if r.queue == "default") == 5
        assert sum(r.enqueued for r in after if r.queue == "mail") == 5
        assert by_key[(minute, "default")].succeeded == 3
        # this app's pieces folded into one row per minute and queue, the old minute gone;
        # the other app's piece is not this app's to fold
        mine = counts_rows(url)
        assert all(folded for folded, *_ in mine), mine
        assert len(mine) == 2 * len(straddled)
        assert all(row[1] >= minute for row in mine)
        [(folded, _, queue, enqueued, _)] = counts_rows(url, "mail")
        assert (folded, queue, enqueued) == (False, "default", 1)
        assert [w.id for w in await broker.workers()] == [worker().id]
        assert query(url, "SELECT count(*) FROM qtasks_workers")[0][0] == 1
        assert sum(r.enqueued for r in await other.throughput(0)) == 1
        # a later fold adds to the folded rows
        await broker.enqueue([envelope()])
        await broker.heartbeat(worker(), ttl=TTL)
        assert sum(r.enqueued for r in await broker.throughput(0) if r.queue == "default") == 6
        assert len(counts_rows(url)) == len(mine)
    finally:
        await other.close()


async def test_a_heartbeat_records_every_field_of_a_worker(broker: PostgresBroker) -> None:
    info = WorkerInfo(
        id="host-é:4194304:x",
        host="host-é",
        pid=4194304,
        queues=(),
        concurrency=1,
        started_at=1.5,
        last_seen=time.time(),
        running=(),
        done=2**40,
        failed=0,
        stopped=True,
    )
    await broker.heartbeat(info, ttl=TTL)
    assert await broker.workers() == [info]


def _v4_row(task_id: str, app: bytes) -> dict[str, object]:
    now = time.time()
    body = encode_envelope(Envelope(id=task_id, task_name="add", queue="default"))
    return {
        "app": app,
        "id": task_id,
        "queue": "default",
        "task_name": "add",
        "priority": 0,
        "eta": now,
        "status": "new",
        "body": body,
        "created_at": now,
        "updated_at": now,
    }


async def test_a_version_4_schema_upgrades_in_place(url: str) -> None:
    settings = PostgresSettings.from_url(url)
    ids = [envelope().id for _ in range(3)]
    async with await psycopg.AsyncConnection.connect(settings.conninfo, autocommit=True) as conn:
        sql = statements(settings.schema)
        applied = await migrate(
            conn,
            sql,
            schema=settings.schema,
            namespace="billing",
            location=settings.location,
            target=4,
        )
        assert applied == [1, 2, 3, 4]
        for task_id in ids:
            row = _v4_row(task_id, app_key("billing"))
            names, marks = ", ".join(row), ", ".join(f"%({name})s" for name in row)
            await conn.execute(
                f'INSERT INTO "{settings.schema}".qtasks_tasks ({names}) VALUES ({marks})', row
            )
    b = PostgresBroker(url, namespace="billing")
    await b.connect()
    try:
        versions = query(url, "SELECT version FROM qtasks_schema_version ORDER BY 1")
        assert [v for (v,) in versions] == list(range(1, SCHEMA_VERSION + 1))
        key = query(
            url,
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conname = 'qtasks_tasks_pkey' AND conrelid = 'qtasks_tasks'::regclass",
        )
        assert key == [("PRIMARY KEY (app, id)",)]
        kinds = query(
            url,
            "SELECT relname, relpersistence FROM pg_class"
            " WHERE relnamespace = %(schema)s::regnamespace"
            " AND relname IN ('qtasks_workers', 'qtasks_counts') ORDER BY 1",
            {"schema": settings.schema},
        )
        assert kinds == [("qtasks_counts", "u"), ("qtasks_workers", "p")]  # counts: no WAL
        assert [t.id for t in await b.list_tasks(TaskQuery())] == sorted(ids, reverse=True)
        assert await b.throughput(0) == [] and await b.workers() == []
        assert len(await claim(b, 10)) == 3
    finally:
        await b.close()
