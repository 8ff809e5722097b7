"""The broker restarts while workers run: they reconnect with backoff, say so clearly in
their log, and finish every task (0 lost).

The shared Redis on 6379 keeps nothing on disk and serves other tests, so this test
starts a Redis server of its own (append-only file, fsync on every write) on a spare
port, shuts it down mid-run and starts it again on the same data directory.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qtasks import QueueTasks

from . import procapp
from .conftest import Workers, wait_until

pytestmark = pytest.mark.timeout(180)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private, persistent redis-server that can be stopped and started again."""

    def __init__(self, data_dir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.port = _free_port()
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--dir", str(self.data_dir), "--save", ""]
        command += ["--appendonly", "yes", "--appendfsync", "always"]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, timeout=15, what="the private redis-server to answer")

    def _answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        """SHUTDOWN: the server flushes its append-only file and exits."""
        import redis

        if self.proc is None:
            return
        with contextlib.suppress(redis.ConnectionError):  # it closes as the server exits
            redis.Redis(port=self.port).shutdown()
        self.proc.wait(15)
        self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    data = tmp_path / "redis-data"
    data.mkdir()
    server = RedisServer(data)
    server.start()
    yield server
    if server.proc is not None:
        server.proc.kill()
        server.proc.wait(10)


@pytest.fixture
def db_url(redis_server: RedisServer) -> str:
    return redis_server.url


def test_workers_survive_a_redis_restart_and_lose_nothing(
    tmp_path: Path, redis_server: RedisServer, workers: Workers
) -> None:
    client: QueueTasks = procapp.make_app(broker_url=redis_server.url)
    markers = [tmp_path / f"m{i}.txt" for i in range(400)]
    sent = client.tasks["marked_sleep"].add_tasks([(str(m), 0.02) for m in markers])
    client.close()
    pair = [workers.start("-c", "4"), workers.start("-c", "4")]
    wait_until(lambda: sum(m.exists() for m in markers) > 20, timeout=30, what="work to start")

    redis_server.stop()
    time.sleep(2.0)  # workers keep trying meanwhile
    redis_server.start()

    client = procapp.make_app(broker_url=redis_server.url)
    for task in sent:
        done = client.wait_result(task.uuid, timeout=60)
        assert done is not None, "a task was lost across the restart"
        assert done.status == "success", done.traceback
    assert client.count() == {"success": len(sent)}
    client.close()
    for worker in pair:
        assert worker.alive(), worker.log()
        log = " ".join(worker.log().split())
        assert "broker unreachable" in log, log
        assert "broker reachable again" in log, log
