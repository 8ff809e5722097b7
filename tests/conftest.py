"""Shared fixtures. ``broker_url`` is THE transport fixture: every conformance
test runs once per transport it lists, each test in a fresh namespace."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_cluster import flush_cluster, local_cluster

#: Every transport of the conformance suite; each later transport joins this list.
TRANSPORTS = ["memory", "sqlite", "redis", "redis-cluster"]

#: The real local Redis; the suite takes a database of its own and flushes it per test.
REDIS_URL = os.environ.get("QTASKS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


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
