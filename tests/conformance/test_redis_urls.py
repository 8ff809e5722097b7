"""Redis URLs as users write them: an ACL user with a password, a database number."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from qtasks import QueueTasks
from qtasks.core.errors import BrokerError, ConfigurationError
from qtasks.testing import drain
from tests.conftest import REDIS_URL, flush_redis

#: The test server and database, for URLs with credentials written in.
_SERVER = REDIS_URL.partition("://")[2]


@pytest.fixture
def acl_user() -> Iterator[tuple[str, str]]:
    admin = redis.Redis.from_url(REDIS_URL)
    name, password = f"qtasks-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin.acl_setuser(
        name,
        enabled=True,
        passwords=[f"+{password}"],
        keys=["*"],
        channels=["*"],
        commands=["+@all"],
    )
    flush_redis()
    try:
        yield name, password
    finally:
        admin.acl_deluser(name)
        flush_redis()
        admin.close()


def test_acl_user_with_password(acl_user: tuple[str, str]) -> None:
    name, password = acl_user
    app = QueueTasks(broker_url=f"redis://{name}:{password}@{_SERVER}")

    @app.task
    def double(x: int) -> int:
        return 2 * x

    record = double.add_task(21)
    assert record is not None
    assert drain(app) == 1
    assert app.get(record.uuid).returning == 42  # type: ignore[union-attr]


def test_wrong_password_is_a_clear_failure(acl_user: tuple[str, str]) -> None:
    name, _ = acl_user
    app = QueueTasks(broker_url=f"redis://{name}:wrong@{_SERVER}")
    assert app.ping() is False
    with pytest.raises(BrokerError, match="invalid username-password") as info:
        app.add_task("anything")
    assert "wrong" not in str(info.value)  # the password is never echoed


def test_the_one_slash_url_of_the_issue_is_refused_before_any_connection() -> None:
    """``redis:/host:port/db`` once passed, pinged True and served localhost db 0."""
    one_slash = REDIS_URL.replace("redis://", "redis:/", 1)
    with pytest.raises(ConfigurationError, match="needs '//' after the scheme: redis://"):
        QueueTasks(broker_url=one_slash)


#: Every option a one-server URL takes but TLS's, with a value that works.
_SERVER_OPTIONS = (
    "socket_timeout=5&socket_connect_timeout=2&socket_keepalive=true&health_check_interval=30"
    "&max_connections=8&protocol=2&client_name=qtasks-url-test&retry_on_timeout=false"
)


def test_every_option_the_check_allows_is_one_redis_py_takes() -> None:
    """The options the URL check lets through reach a real server: none fails later."""
    host = _SERVER.rpartition("/")[0]
    database = int(_SERVER.rpartition("/")[2] or 0)
    flush_redis()
    app = QueueTasks(broker_url=f"redis://{host}?db={database}&{_SERVER_OPTIONS}")

    @app.task
    def double(x: int) -> int:
        return 2 * x

    record = double.add_task(21)
    assert record is not None and drain(app) == 1
    assert app.get(record.uuid).returning == 42  # type: ignore[union-attr]
    admin = redis.Redis.from_url(REDIS_URL)
    try:  # the database of ?db= is the one used
        assert admin.dbsize() > 0
        clients = admin.client_list()
        assert any(c["name"] == "qtasks-url-test" for c in clients)  # client_name reached it
    finally:
        admin.close()
    app.close()
    flush_redis()


def test_every_cluster_option_the_check_allows_is_one_redis_py_takes(redis_cluster: str) -> None:
    options = (
        "socket_timeout=5&socket_connect_timeout=2&socket_keepalive=yes"
        "&health_check_interval=30&max_connections=16&protocol=2&client_name=qtasks-url-test"
    )
    app = QueueTasks(broker_url=f"{redis_cluster}?{options}", name=f"urls-{uuid.uuid4().hex}")

    @app.task
    def double(x: int) -> int:
        return 2 * x

    record = double.add_task(4)
    assert record is not None and drain(app) == 1
    assert app.get(record.uuid).returning == 8  # type: ignore[union-attr]
    app.flush_all()
    app.close()
