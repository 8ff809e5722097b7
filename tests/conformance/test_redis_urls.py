"""Redis URLs as users write them: an ACL user with a password, a database number."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from qtasks import QueueTasks
from qtasks.core.errors import BrokerError
from qtasks.testing import drain
from tests.conftest import REDIS_URL, flush_redis


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
    app = QueueTasks(broker_url=f"redis://{name}:{password}@127.0.0.1:6379/15")

    @app.task
    def double(x: int) -> int:
        return 2 * x

    record = double.add_task(21)
    assert record is not None
    assert drain(app) == 1
    assert app.get(record.uuid).returning == 42  # type: ignore[union-attr]


def test_wrong_password_is_a_clear_failure(acl_user: tuple[str, str]) -> None:
    name, _ = acl_user
    app = QueueTasks(broker_url=f"redis://{name}:wrong@127.0.0.1:6379/15")
    assert app.ping() is False
    with pytest.raises(BrokerError, match="invalid username-password") as info:
        app.add_task("anything")
    assert "wrong" not in str(info.value)  # the password is never echoed
