"""Shared fixtures. ``broker_url`` is THE transport fixture: every conformance
test runs once per transport it lists, each test in a fresh namespace."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.redis_cluster import flush_cluster, local_cluster

#: Every transport of the conformance suite; each later transport joins this list.
TRANSPORTS = ["memory", "sqlite", "redis", "redis-cluster", "postgres"]

#: The real local Redis; the suite takes a database of its own and flushes it per test.
REDIS_URL = os.environ.get("QTASKS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

#: The real local PostgreSQL; the suite uses a database of its own, a fresh schema per test.
POSTGRES_URL = os.environ.get(
    "QTASKS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/qtasks_test"
)


@pytest.fixture(params=TRANSPORTS)
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL for an empty queue on one transport."""
    name: str = request.param
    if name == "memory":
        yield f"memory://{uuid.uuid4().hex}"
    elif name == "sqlite":
        yield f"sqlite:///{tmp_path / 'qtasks.sqlite3'}"
    elif name == "redis":
        flush_redis()
        yield REDIS_URL
        flush_redis()
    elif name == "redis-cluster":
        url = request.getfixturevalue("redis_cluster")
        flush_cluster(url)
        yield url
        flush_cluster(url)
    elif name == "postgres":
        with postgres_schema() as url:
            yield url
    else:  # pragma: no cover - a transport listed but not wired is a bug in this file
        raise AssertionError(f"no fixture for transport {name}")


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local 3-node Redis Cluster for the whole session: its ``redis+cluster://`` URL."""
    with local_cluster(tmp_path_factory.mktemp("redis-cluster")) as url:
        yield url


def flush_redis() -> None:
    """Empty the test database; an unreachable Redis fails the test (never a skip)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()


_postgres_database_checked = False


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL of the test database with a schema of its own, dropped afterwards.

    The transport creates the schema when it first connects, so each test also runs
    the migrations. An unreachable server fails the test (never a skip).
    """
    import psycopg

    ensure_postgres_database()
    schema = f"qtasks_test_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def ensure_postgres_database() -> None:
    """Create the test database once per session if the server lacks it."""
    global _postgres_database_checked
    if _postgres_database_checked:
        return
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = conninfo_to_dict(POSTGRES_URL)["dbname"]
    with psycopg.connect(make_conninfo(POSTGRES_URL, dbname="test"), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if exists.fetchone() is None:
            admin.execute(f'CREATE DATABASE "{name}"')
    _postgres_database_checked = True


def stored_ticks(app: Any) -> list[float]:
    """The tick of every task a schedule sent that ``app``'s broker still stores (read from
    the messages' headers), oldest first: what the schedule tests count."""
    import asyncio

    from qtasks.core.envelope import decode_envelope
    from qtasks.core.inspection import TaskQuery
    from qtasks.schedule.spec import TICK_HEADER

    async def read() -> list[float]:
        broker = app._client.new_broker()
        await broker.connect()
        try:
            stored = await broker.list_tasks(TaskQuery(limit=100_000))
        finally:
            await broker.close()
        return sorted(float(decode_envelope(s.body).headers[TICK_HEADER]) for s in stored)

    return asyncio.run(read())
