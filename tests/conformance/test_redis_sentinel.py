"""``redis+sentinel://``: a throwaway master with a password, a replica, and one Sentinel
(quorum 1, a password of its own) watching them.

The URL's credentials are the master's; ``?sentinel_password=`` is the Sentinels'.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from redis.sentinel import MasterNotFoundError, Sentinel

from qtasks import QueueTasks
from qtasks.brokers.redis import RedisTarget, pointer
from qtasks.config import QueueConfig
from qtasks.core.errors import BrokerError, ConfigurationError
from qtasks.testing import drain, worker_thread
from tests.redis_cluster import SENTINEL_FIRST_PORT, RedisServer, free_ports, servers, wait_for

SERVICE = "qtasks-test"
MASTER_PASSWORD = "master-secret"
SENTINEL_PASSWORD = "sentinel-secret"


@dataclass(frozen=True)
class Watched:
    master: RedisServer
    replica: RedisServer
    sentinel: RedisServer

    def url(self, *, sentinel_password: str | None = SENTINEL_PASSWORD) -> str:
        query = f"?sentinel_password={sentinel_password}" if sentinel_password else ""
        where = f"127.0.0.1:{self.sentinel.port}"
        return f"redis+sentinel://:{MASTER_PASSWORD}@{where}/{SERVICE}/2{query}"


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    directory = tmp_path_factory.mktemp("redis-sentinel")
    master, replica, sentinel = free_ports(3, SENTINEL_FIRST_PORT)
    auth = ("--requirepass", MASTER_PASSWORD, "--masterauth", MASTER_PASSWORD)
    config = directory / "sentinel.conf"  # a Sentinel rewrites its own config file
    config.write_text(
        f"sentinel monitor {SERVICE} 127.0.0.1 {master} 1\n"
        f"sentinel auth-pass {SERVICE} {MASTER_PASSWORD}\n"
        f"sentinel down-after-milliseconds {SERVICE} 1000\n"
        f"sentinel failover-timeout {SERVICE} 10000\n"
        f"requirepass {SENTINEL_PASSWORD}\n"
    )
    with servers(
        lambda: RedisServer(directory / "master", master, *auth),
        lambda: RedisServer(
            directory / "replica", replica, *auth, "--replicaof", "127.0.0.1", str(master)
        ),
        lambda: RedisServer(
            directory, sentinel, str(config), "--sentinel", "--port", str(sentinel)
        ),
    ) as running:
        with running[-1].client(password=SENTINEL_PASSWORD) as client:
            wait_for(
                lambda: client.execute_command("SENTINEL", "REPLICAS", SERVICE),
                "the Sentinel to find the replica",
            )
        yield Watched(*running)


def test_sentinel_url_forms() -> None:
    target = RedisTarget.parse(
        "redis+sentinel://:pw@s1,s2:5000/mymaster/3?sentinel_password=x&socket_timeout=2"
    )
    assert target.kind == "sentinel" and target.service == "mymaster"
    assert target.hosts == (("s1", 26379), ("s2", 5000))
    assert target.sentinel_auth == {"password": "x"}
    assert target.options_url == "redis://:pw@sentinel/3?socket_timeout=2"
    for wrong in ("redis+sentinel://:pw@s1:26379", "redis+sentinel://s1/mymaster/x"):
        with pytest.raises(ConfigurationError, match="service_name") as info:
            RedisTarget.parse(wrong)
        assert "pw" not in str(info.value)


def test_tasks_run_through_the_master_the_sentinel_names(watched: Watched) -> None:
    app = QueueTasks(broker_url=watched.url(), config=QueueConfig(result_ttl=60))

    @app.task
    def double(x: int) -> int:
        return 2 * x

    records = [double.add_task(n) for n in range(5)]
    assert drain(app) == 5
    assert [app.get(r.uuid).returning for r in records] == [0, 2, 4, 6, 8]  # type: ignore[union-attr]
    with worker_thread(app, concurrency=2):  # a pushed result wait, through the Sentinel
        final = double.add_task(21, timeout=10)
    assert final is not None and final.returning == 42
    with watched.master.client(password=MASTER_PASSWORD, db=2) as master:
        assert master.exists(pointer(app.name, str(final.uuid))) == 1  # database 2 of the master
    app.close()


def test_without_the_sentinels_password_is_a_clear_failure(watched: Watched) -> None:
    app = QueueTasks(broker_url=watched.url(sentinel_password=None))
    assert app.ping() is False
    with pytest.raises(BrokerError, match=SERVICE) as info:
        app.add_task("anything")
    assert MASTER_PASSWORD not in str(info.value)


def test_after_a_failover_the_replica_takes_over(watched: Watched) -> None:
    """Last in this module: it stops the master."""
    app = QueueTasks(broker_url=watched.url())

    @app.task
    def double(x: int) -> int:
        return 2 * x

    record = double.add_task(4)
    with watched.master.client(password=MASTER_PASSWORD) as client:
        assert client.execute_command("WAIT", 1, 10_000) == 1  # the replica has the task
    watched.master.stop()
    sentinel = Sentinel(
        [("127.0.0.1", watched.sentinel.port)], sentinel_kwargs={"password": SENTINEL_PASSWORD}
    )

    def promoted() -> bool:
        # discover_master is what the client itself asks: the Sentinel names the new master
        # (get-master-addr-by-name) a moment before it reports it healthy (SENTINEL MASTERS)
        try:
            return bool(sentinel.discover_master(SERVICE)[1] == watched.replica.port)
        except MasterNotFoundError:
            return False

    wait_for(promoted, "the Sentinel to promote the replica")
    assert drain(app) == 1
    final = app.get(record.uuid)  # the same app: its pooled connections move over
    assert final is not None and final.returning == 8
    app.close()
