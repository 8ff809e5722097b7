"""PostgreSQL URLs as users write them: both schemes, libpq options, qtasks' own options,
clear password-free failures, the no-LISTEN mode for PgBouncer, concurrent migrations."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from qtasks import QueueTasks
from qtasks.brokers.postgres import SCHEMA_VERSION, PostgresSettings
from qtasks.brokers.urls import broker_factory
from qtasks.core.broker import Broker
from qtasks.core.envelope import Envelope
from qtasks.core.errors import BrokerError, ConfigurationError
from qtasks.core.ids import new_task_id
from qtasks.testing import drain
from tests.conformance.test_broker_contract import keep, success
from tests.conftest import POSTGRES_URL, postgres_schema

ACCEPTANCE = Path(__file__).resolve().parent.parent / "acceptance"


@pytest.fixture
def url() -> Iterator[str]:
    """The test database with a fresh schema: ``postgresql://…?schema=…``."""
    with postgres_schema() as schema_url:
        yield schema_url


def envelope(queue: str = "default") -> Envelope:
    return Envelope(id=new_task_id(), task_name="t", queue=queue, created_at=time.time())


def listening_sessions(application_name: str) -> int:
    """Server sessions of that application name whose last statement was a LISTEN."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = %s AND query LIKE 'LISTEN%%'",
            (application_name,),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def connected(url: str) -> Broker:
    broker = broker_factory(url)()
    await broker.connect()
    return broker


def test_both_schemes_reach_the_same_queue(url: str) -> None:
    """A ``postgres://`` producer and a ``postgresql://`` worker share one queue."""
    assert url.startswith("postgresql://")
    producer = QueueTasks(broker_url="postgres://" + url.removeprefix("postgresql://"))
    worker = QueueTasks(broker_url=url)
    for app in (producer, worker):
        app.task(name="square")(lambda x: x * x)

    record = producer.add_task("square", 12)
    assert record is not None
    assert drain(worker) == 1
    done = producer.get(record.uuid)
    assert done is not None and done.status == "success" and done.returning == 144
    producer.close()
    worker.close()


async def test_idle_claim_and_result_wait_are_woken_by_notifications(url: str) -> None:
    name = f"qtasks-listen-{uuid.uuid4().hex[:8]}"
    worker = await connected(f"{url}&application_name={name}")
    producer = await connected(url)
    env = envelope()

    async def enqueue_later() -> None:
        await asyncio.sleep(0.3)
        assert listening_sessions(name) == 1  # libpq got application_name; LISTEN is on
        await producer.enqueue([env])

    later = asyncio.create_task(enqueue_later())
    got = await worker.claim(["default"], 10, lease=30, worker_id="w", wait=10)
    await later
    assert [d.id for d in got] == [env.id]
    await worker.close()
    await producer.close()


async def test_listen_0_polls_and_opens_no_listening_connection(url: str) -> None:
    """The PgBouncer (transaction pooling) setting: no LISTEN, no prepared statements."""
    name = f"qtasks-poll-{uuid.uuid4().hex[:8]}"
    polling_url = f"{url}&listen=0&prepare=0&poll_max=0.2&application_name={name}"
    worker = await connected(polling_url)
    producer = await connected(polling_url)
    env = envelope()

    async def enqueue_later() -> None:
        await asyncio.sleep(0.3)
        await producer.enqueue([env])

    later = asyncio.create_task(enqueue_later())
    got = await worker.claim(["default"], 10, lease=30, worker_id="w", wait=10)
    await later
    assert [d.id for d in got] == [env.id]

    async def finish_later() -> None:
        await asyncio.sleep(0.3)
        await worker.complete([success(env.id, 7)], retention=keep(60))

    finishing = asyncio.create_task(finish_later())
    stored = await producer.wait(env.id, timeout=10)
    await finishing
    assert stored is not None and stored.status == "success"
    assert listening_sessions(name) == 0
    await worker.close()
    await producer.close()


async def test_schema_option_keeps_queues_apart(url: str) -> None:
    with postgres_schema() as other_url:
        here, there = await connected(url), await connected(other_url)
        await here.enqueue([envelope()])
        assert await here.count() == {"new": 1}
        assert await there.count() == {}
        await here.close()
        await there.close()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("listen=2", "takes 0 or 1"),
        ("prepare=yes", "takes 0 or 1"),
        ("schema=bad-name", "letters, digits and _"),
        ("pool_max=0", "whole number >= 1"),
        ("poll_max=soon", "number > 0"),
        ("no_such_option=1", "unknown option 'no_such_option'"),
        ("sslmode=verify", "sslmode='verify' takes one of"),
        ("port=5432x", "port '5432x'"),
    ],
)
def test_malformed_url_fails_when_the_app_is_made(query: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        QueueTasks(broker_url=f"postgresql://me:hunter2@127.0.0.1:5432/qtasks_test?{query}")
    assert "hunter2" not in str(info.value)


def test_a_hash_in_the_password_keeps_the_options_after_it(url: str) -> None:
    """libpq reads '#' literally; the options after it are still qtasks' (they were lost
    to urllib's fragment once: the tasks went to schema public)."""
    settings = PostgresSettings.from_url(url.replace("postgresql://", "postgresql://u:a#b@"))
    assert settings.schema == url.rsplit("schema=", 1)[1] and settings.password == "a#b"
    assert "schema=" not in settings.conninfo


def test_unreachable_server_is_a_clear_failure_without_the_password() -> None:
    app = QueueTasks(broker_url="postgresql://postgres:hunter2@127.0.0.1:1/qtasks_test")
    assert app.ping() is False
    with pytest.raises(BrokerError, match=r"127\.0\.0\.1:1/qtasks_test failed") as info:
        app.add_task("anything")
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(info.value.__cause__) + repr(info.value.__context__)


def test_missing_database_is_named_in_the_error() -> None:
    app = QueueTasks(broker_url=f"{POSTGRES_URL}_no_such_database")
    with pytest.raises(BrokerError, match='database "qtasks_test_no_such_database" does not'):
        app.add_task("anything")


async def test_concurrent_migrations_apply_each_step_once(url: str) -> None:
    brokers = [broker_factory(url)() for _ in range(6)]
    await asyncio.gather(*(b.connect() for b in brokers))  # six connections migrate at once
    await brokers[0].enqueue([envelope()])
    counts = await asyncio.gather(*(b.count() for b in brokers))
    assert counts == [{"new": 1}] * 6
    await asyncio.gather(*(b.close() for b in brokers))
    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(POSTGRES_URL) as conn:
        versions = conn.execute(f"SELECT version FROM {schema}.qtasks_schema_version").fetchall()
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]  # each step once


def test_migrate_command_in_two_processes_at_once(url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QTASKS_")}
    env |= {"QTASKS_BROKER_URL": url, "PYTHONPATH": str(ACCEPTANCE)}
    command = [sys.executable, "-m", "qtasks", "-A", "procapp:app", "migrate"]
    runs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=60)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert all("schema up to date" in out for out in outputs), outputs
    app = QueueTasks(broker_url=url)
    assert app.count() == {}
    app.close()


async def test_newer_schema_is_refused(url: str) -> None:
    broker = await connected(url)
    await broker.close()
    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(POSTGRES_URL) as conn:
        conn.execute(f"INSERT INTO {schema}.qtasks_schema_version (version) VALUES (999)")
    with pytest.raises(BrokerError, match="schema version 999"):
        await connected(url)


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("postgresql://u@db.example.com/app", True),  # libpq's default: prefer
        ("postgresql://u@db.example.com/app?sslmode=require", True),  # encrypts, trusts anyone
        ("postgresql://u@10.0.0.5,db2.example.com/app?sslmode=verify-ca", False),
        ("postgresql://u@db.example.com/app?sslmode=verify-full", False),
        ("postgresql://u@127.0.0.1/app", False),
        ("postgresql://u@localhost/app?sslmode=disable", False),
        ("postgresql:///app?host=/run/postgresql", False),  # a Unix socket
    ],
)
def test_a_remote_server_without_certificate_checks_is_warned_about(url: str, warned: bool) -> None:
    warning = PostgresSettings.from_url(url).unverified_tls
    assert (warning is not None) == warned
    if warning:
        assert "verify-full" in warning and "db.example.com" in warning


def test_the_tls_warning_is_logged_once_when_connecting(caplog: pytest.LogCaptureFixture) -> None:
    """A remote name (``host=``) reached at the local server's address (``hostaddr=``):
    the broker warns, once, and connects."""
    url = "postgresql://postgres@queue-db.example.com:5432/qtasks_test?hostaddr=127.0.0.1"
    app = QueueTasks(broker_url=url, name=f"tls-{uuid.uuid4().hex}")
    with caplog.at_level(logging.WARNING, logger="qtasks.brokers.postgres"):
        assert app.ping()
        app.close()
        assert app.ping()  # a second connection: no second warning
    warnings = [r.getMessage() for r in caplog.records if "verify-full" in r.getMessage()]
    assert len(warnings) == 1 and "queue-db.example.com" in warnings[0]
    app.close()


def test_libpq_options_the_check_reads_work_on_a_real_server(url: str) -> None:
    """The libpq values checked here are ones libpq takes (none fails at connect)."""
    name = f"qtasks-urls-{uuid.uuid4().hex[:8]}"
    options = (
        f"&connect_timeout=5&keepalives=1&keepalives_idle=30&target_session_attrs=read-write"
        f"&sslmode=disable&application_name={name}&pool_max=2&listen=1&prepare=1"
    )
    app = QueueTasks(broker_url=url + options)
    app.task(name="square")(lambda x: x * x)
    record = app.add_task("square", 7)
    assert record is not None and drain(app) == 1
    assert app.get(record.uuid).returning == 49  # type: ignore[union-attr]
    app.close()
