"""Delayed tasks cost a claim nothing: with many tasks waiting for a later eta, a claim
reads only what is due. Measured as work done, not time: SQLite's virtual-machine steps
(a progress handler counts them) and PostgreSQL's pages read (EXPLAIN ANALYZE, BUFFERS)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import psycopg

from qtasks import QueueTasks
from qtasks.core.envelope import Envelope
from qtasks.core.ids import new_task_id
from qtasks.testing import drain
from tests.conftest import postgres_schema

DELAYED = 20_000
#: PostgreSQL's planner walks a small table's index happily either way; at this size the
#: claim before the delayed index read about 1,300 pages, with it about 14.
PG_DELAYED = 100_000


def _delayed(count: int, eta: float) -> list[Envelope]:
    now = time.time()
    return [
        Envelope(id=new_task_id(), task_name="later", queue="default", eta=eta, created_at=now)
        for _ in range(count)
    ]


async def _fill(broker: Any, count: int) -> None:
    later = time.time() + 3600
    for start in range(0, count, 5_000):
        await broker.enqueue(_delayed(min(5_000, count - start), later))


def test_sqlite_claims_do_not_read_delayed_tasks(tmp_path: Any) -> None:
    app = QueueTasks(broker_url=f"sqlite:///{tmp_path / 'q.sqlite3'}")

    async def steps_of_an_empty_claim(extra: int) -> int:
        broker = app._client.new_broker()
        await broker.connect()
        await _fill(broker, extra)
        steps = 0

        def count() -> int:
            nonlocal steps
            steps += 1
            return 0

        broker._db().set_progress_handler(count, 100)  # called every 100 VM instructions
        assert await broker.claim(["default"], 10, lease=10, worker_id="w", wait=0) == []
        broker._db().set_progress_handler(None, 0)
        await broker.close()
        return steps

    few = asyncio.run(steps_of_an_empty_claim(10))
    many = asyncio.run(steps_of_an_empty_claim(DELAYED))
    assert many <= few + 5, (few, many)  # flat: not proportional to the delayed tasks

    @app.task
    def now() -> str:
        return "ran"

    record = now.add_task()  # a ready task among them is claimed and runs
    assert drain(app) == 1
    final = app.get(record.uuid)
    assert final is not None and final.returning == "ran"
    app.close()


def _pages_read(plan: Any) -> int:
    """Buffer pages the whole plan touched (a node's counts include its children's)."""
    return int(plan.get("Shared Hit Blocks", 0)) + int(plan.get("Shared Read Blocks", 0))


def test_postgres_claims_do_not_read_delayed_tasks() -> None:
    with postgres_schema() as url:
        app = QueueTasks(broker_url=url)

        async def pages_read_by_an_empty_claim() -> int:
            broker = app._client.new_broker()
            await broker.connect()
            await _fill(broker, PG_DELAYED)
            statement = broker._sql["claim_alone"]
            params = broker._claim_params(["default"], 10, 10.0, "w")
            await broker.close()
            with psycopg.connect(broker.settings.conninfo) as conn:  # rolled back at exit
                explained = conn.execute(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, params
                ).fetchone()
                assert explained is not None
                conn.rollback()
            plan = explained[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            return _pages_read(plan[0]["Plan"])

        pages = asyncio.run(pages_read_by_an_empty_claim())
        assert pages < 20, pages  # a seek or two, not a walk over the delayed rows
        app.close()
