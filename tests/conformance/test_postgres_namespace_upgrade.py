"""A PostgreSQL schema written by migration 2 (before app namespaces) upgrades in place:
its rows belong to the app whose process migrates first, a real worker of that app runs
them, and another app on the schema sees none of them. Concurrent upgraders (brokers in
one process, ``qtasks migrate`` in two) apply migration 3 exactly once."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from qtasks import QueueTasks
from qtasks.brokers.postgres import PostgresBroker, PostgresSettings
from qtasks.brokers.postgres_schema import SCHEMA_VERSION, app_key, migrate, statements
from qtasks.core.envelope import Envelope, encode_envelope
from qtasks.core.ids import new_task_id
from tests.acceptance import procapp
from tests.acceptance.conftest import HERE as ACCEPTANCE
from tests.acceptance.conftest import Workers
from tests.conftest import postgres_schema

#: The upgrading worker's app: a name with characters that need care in SQL and channels.
UPGRADER = "billing:{é}"


@pytest.fixture
def url() -> Iterator[str]:
    with postgres_schema() as schema_url:
        yield schema_url


def _row(task_name: str, args: list[object], **columns: object) -> dict[str, object]:
    """A ``qtasks_tasks`` row with migration 2's columns only (no ``app``)."""
    task_id, now = new_task_id(), time.time()
    body = encode_envelope(
        Envelope(id=task_id, task_name=task_name, queue="default", args=tuple(args))
    )
    row: dict[str, object] = {
        "id": task_id,
        "queue": "default",
        "task_name": task_name,
        "priority": 0,
        "eta": now,
        "status": "new",
        "body": body,
        "created_at": now,
        "updated_at": now,
    }
    row.update(columns)
    return row


def _rows() -> dict[str, dict[str, object]]:
    now = time.time()
    return {
        "ready": _row("add", [1, 2]),
        "delayed": _row("add", [3, 4], eta=now + 1.5),
        "finished": _row(
            "add",
            [5, 6],
            status="success",
            result=b"11",
            attempt=1,
            started_at=now,
            finished_at=now,
            expires_at=now + 3600,
            worker_id="old-worker",
            worker_ids=["old-worker"],
        ),
        "dead": _row(
            "add",
            [7, 8],
            status="error",
            traceback="Traceback: boom",
            error_type="builtins.ValueError",
            attempt=1,
            started_at=now,
            finished_at=now,
            expires_at=now + 3600,
            worker_id="old-worker",
            worker_ids=["old-worker"],
        ),
    }


async def _write_version_2(url: str, rows: list[dict[str, object]]) -> None:
    """Apply migrations 1 and 2 only, then INSERT ``rows`` as qtasks did at version 2."""
    settings = PostgresSettings.from_url(url)
    conn = await psycopg.AsyncConnection.connect(settings.conninfo, autocommit=True)
    async with conn:
        sql = statements(settings.schema)
        applied = await migrate(
            conn,
            sql,
            schema=settings.schema,
            namespace="nobody",  # unused below version 3
            location=settings.location,
            target=2,
        )
        assert applied == [1, 2]
        for row in rows:
            names = ", ".join(row)
            marks = ", ".join(f"%({name})s" for name in row)
            await conn.execute(
                f'INSERT INTO "{settings.schema}".qtasks_tasks ({names}) VALUES ({marks})',
                row,
            )


def write_version_2(url: str, rows: list[dict[str, object]]) -> None:
    asyncio.run(_write_version_2(url, rows))


def query(url: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    settings = PostgresSettings.from_url(url)
    with psycopg.connect(settings.conninfo, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{settings.schema}"')
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def versions(url: str) -> list[int]:
    return [v for (v,) in query(url, "SELECT version FROM qtasks_schema_version ORDER BY 1")]


def owners(url: str) -> set[bytes]:
    return {bytes(app) for (app,) in query(url, "SELECT DISTINCT app FROM qtasks_tasks")}


def test_a_version_2_schema_is_upgraded_and_drained_by_a_worker(url: str, tmp_path: Path) -> None:
    rows = _rows()
    write_version_2(url, list(rows.values()))
    assert versions(url) == [1, 2]

    workers = Workers(tmp_path, url)
    apps: list[QueueTasks] = []
    try:
        worker = workers.start(env={"PROCAPP_NAME": UPGRADER})  # connects (migrates) first
        worker.wait_ready()
        assert versions(url) == list(range(1, SCHEMA_VERSION + 1))
        assert owners(url) == {app_key(UPGRADER)}
        indexes = dict(
            query(
                url, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'qtasks_tasks'"
            )
        )
        for name in ("ready", "due", "leased", "expiry", "dead"):
            assert "USING btree (app, " in indexes[f"qtasks_tasks_{name}"], indexes

        billing = procapp.make_app(broker_url=url, name=UPGRADER)
        other = QueueTasks(name="mail", broker_url=url)
        apps += [billing, other]
        ready, delayed, finished, dead = (str(rows[k]["id"]) for k in rows)
        done = billing.wait_result(ready, timeout=30)
        assert done is not None and done.status == "success" and done.returning == 3
        done_later = billing.wait_result(delayed, timeout=30)
        assert done_later is not None and done_later.returning == 7
        kept = billing.get(finished)
        assert kept is not None and kept.status == "success" and kept.returning == 11
        assert [str(t.uuid) for t in billing.dead_letters()] == [dead]

        # the old rows are the upgrader's: another app on the schema sees none of them
        assert other.count() == {}
        assert other.dead_letters() == []
        assert all(other.get(str(r["id"])) is None for r in rows.values())

        assert billing.requeue_dead(dead) == 1
        requeued = billing.wait_result(dead, timeout=30)
        assert requeued is not None and requeued.returning == 15
        assert billing.count() == {"success": 4}
        assert owners(url) == {app_key(UPGRADER)}
        worker.send(signal.SIGTERM)
        assert worker.wait_exit(30) == 0
    except BaseException:
        print(workers.logs())
        raise
    finally:
        workers.kill_all()
        for app in apps:
            app.close()


async def test_brokers_of_two_apps_upgrading_at_once_migrate_exactly_once(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    rows = list(_rows().values())
    await _write_version_2(url, rows)
    names = ["nul\0app", "mail"] * 3
    brokers = [PostgresBroker(url, namespace=name) for name in names]
    caplog.set_level(logging.INFO, logger="qtasks.brokers.postgres")
    try:
        await asyncio.gather(*(b.connect() for b in brokers))  # six connections at once
        applied = [r for r in caplog.records if r.getMessage().endswith("migration 3")]
        assert len(applied) == 1, caplog.text
        assert versions(url) == list(range(1, SCHEMA_VERSION + 1))
        [winner] = owners(url)
        counts = {b.namespace: await b.count() for b in brokers}
        for name, count in counts.items():
            assert count == (
                {"new": 2, "success": 1, "error": 1} if app_key(name) == winner else {}
            )
    finally:
        await asyncio.gather(*(b.close() for b in brokers))


def test_migrate_commands_of_two_apps_at_once_migrate_exactly_once(url: str) -> None:
    write_version_2(url, list(_rows().values()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("QTASKS_")}
    env |= {"QTASKS_BROKER_URL": url, "PYTHONPATH": str(ACCEPTANCE), "COLUMNS": "400"}
    command = [sys.executable, "-m", "qtasks", "-A", "procapp:app", "migrate"]
    apps = ["billing", "mail"]
    runs = [
        subprocess.Popen(
            command,
            env={**env, "PROCAPP_NAME": name},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for name in apps
    ]
    outputs = [" ".join(run.communicate(timeout=60)[0].decode().split()) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert all("schema up to date" in out for out in outputs), outputs
    migrated = [name for name, out in zip(apps, outputs, strict=True) if "migration 3" in out]
    assert len(migrated) == 1, outputs
    assert owners(url) == {app_key(migrated[0])}
    assert versions(url) == list(range(1, SCHEMA_VERSION + 1))


def _envelope() -> Envelope:
    return Envelope(id=new_task_id(), task_name="t", queue="default")


async def test_the_claim_walks_the_ready_index_of_its_app(url: str) -> None:
    """With the app filter the claim still reads the partial index in order (no sort, no
    scan of other apps' rows): the plan PostgreSQL picks, on a table worth indexing."""
    mine, theirs = (PostgresBroker(url, namespace=name) for name in ("billing", "mail"))
    await mine.connect()
    await theirs.connect()
    try:
        for broker in (mine, theirs):
            for _ in range(5):
                await broker.enqueue(
                    [
                        Envelope(id=new_task_id(), task_name="t", queue="default")
                        for _ in range(2000)
                    ]
                )
        query(url, "ANALYZE qtasks_tasks")
        params = mine._claim_params(["default"], 10, 60.0, "w")
        claim = mine._sql["claim_alone"]
        lines = [line.strip() for (line,) in query(url, f"EXPLAIN {claim}", params)]
        plan = "\n".join(lines)
        scan = next(i for i, line in enumerate(lines) if "qtasks_tasks_ready" in line)
        assert lines[scan].startswith("->  Index Scan using qtasks_tasks_ready"), plan
        assert lines[scan + 1].startswith("Index Cond: ((app = "), plan
        assert "(queue = q.name)" in lines[scan + 1], plan
        # the only sort merges the per-queue picks (at most limit rows per queue)
        assert [line for line in lines if line.startswith("Sort Key")] == [
            'Sort Key: ready.priority DESC, ready.eta, ready.id COLLATE "C"'
        ], plan
        got = await mine.claim(["default"], 10, lease=60, worker_id="w", wait=0)
        assert len(got) == 10
        assert await theirs.count() == {"new": 10_000}
    finally:
        await mine.close()
        await theirs.close()


def test_every_statement_filters_by_app() -> None:
    """Each statement that touches task rows names the app (a missed one would leak)."""
    sql = statements("s")
    skip = {"task_columns", "dead_filter", "rows_one", "rows_many", "commit_with_flush"}
    for name, text in sql.items():
        if "qtasks_tasks" in text and not name.startswith("migration_") and name not in skip:
            assert (
                "app = %(app)s::bytea" in text
                or "%(app)s::bytea, t.id" in text
                or "%(apps)s::bytea[]" in text  # complete: each outcome's app
            ), name
