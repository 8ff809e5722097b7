"""The sync callers' enqueue on Redis (``redis_blocking.BlockingScript``): its own
connection, the script loaded again after ``SCRIPT FLUSH``, a killed connection made
again, a server that stays away a ``BrokerError`` — and no task lost or doubled."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from qtasks import QueueTasks
from qtasks.brokers.redis import RedisBroker
from qtasks.brokers.redis_blocking import BlockingScript
from qtasks.core.errors import BrokerError
from qtasks.testing import drain
from tests.conftest import REDIS_URL, flush_redis


@pytest.fixture
def app() -> Iterator[QueueTasks]:
    flush_redis()
    app = QueueTasks(name="blocking", broker_url=REDIS_URL)
    yield app
    app.close()
    flush_redis()


def client_id(script: BlockingScript) -> int:
    """The server's id of the connection the script holds."""
    conn = script._connection()
    conn.send_command("CLIENT", "ID")
    return int(conn.read_response())


def test_single_sync_enqueues_survive_script_flush_and_a_killed_connection(
    app: QueueTasks,
) -> None:
    @app.task
    def double(x: int) -> int:
        return 2 * x

    admin = redis.Redis.from_url(REDIS_URL)
    records = [double.add_task(1)]
    broker = app._client._brokers[app._runner.loop()]  # the sync facade's broker
    assert isinstance(broker, RedisBroker)
    assert isinstance(broker._blocking_enqueue, BlockingScript), "the blocking path ran"
    admin.script_flush()  # NOSCRIPT on the next call: loaded again
    records.append(double.add_task(2))
    held = client_id(broker._blocking_enqueue)
    admin.client_kill_filter(_id=str(held))  # the held connection dies
    records.append(double.add_task(3))
    assert client_id(broker._blocking_enqueue) != held  # made again
    assert drain(app) == 3
    got = [app.get(r.uuid) for r in records if r is not None]
    assert [g.returning for g in got if g is not None] == [2, 4, 6]
    admin.close()


def test_a_server_that_stays_away_is_a_broker_error() -> None:
    script = BlockingScript("redis://127.0.0.1:1/0", "return 1")
    with pytest.raises(redis.ConnectionError):
        script("k", [])
    script.close()
    app = QueueTasks(name="nowhere", broker_url="redis://127.0.0.1:1/0")
    with pytest.raises(BrokerError):
        app.add_task("anything")
