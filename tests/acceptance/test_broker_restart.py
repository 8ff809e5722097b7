"""The broker restarts while workers run: they reconnect with backoff, say so clearly in
their log, and finish every task (0 lost).

The shared servers serve other tests (and the shared Redis keeps nothing on disk), so
this test starts a server of its own on a spare port (Redis with an append-only file
fsynced on every write; a PostgreSQL cluster made by initdb), shuts it down cleanly
mid-run and starts it again on the same data directory.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qtasks import QueueTasks
from qtasks.core.errors import BrokerError

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

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)


class PostgresServer:
    """A private PostgreSQL cluster (initdb as the postgres user) that can be restarted."""

    BIN = Path("/usr/lib/postgresql")

    def __init__(self, data_dir: Path) -> None:
        versions = sorted(self.BIN.glob("*/bin/pg_ctl"))
        if not versions:
            pytest.fail("PostgreSQL server binaries are not installed (apt-get install postgresql)")
        self.pg_ctl = str(versions[-1])
        self.port = _free_port()
        self.root = data_dir
        self.data = data_dir / "data"
        shutil.chown(data_dir, "postgres")
        self._as_postgres(
            str(versions[-1].with_name("initdb")),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *command: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._as_postgres(
            self.pg_ctl,
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        """A fast shutdown: sessions are closed, committed work is kept."""
        self._as_postgres(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")

    def kill(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._as_postgres(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop")


@pytest.fixture(params=["redis", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[RedisServer | PostgresServer]:
    data = tmp_path / "server-data"
    data.mkdir()
    if request.param == "postgres":  # the postgres user cannot enter pytest's root-only tmp
        data = Path(tempfile.mkdtemp(prefix="qtasks-pg-"))
    made = RedisServer(data) if request.param == "redis" else PostgresServer(data)
    made.start()
    yield made
    made.kill()
    if request.param == "postgres":
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def db_url(server: RedisServer | PostgresServer) -> str:
    return server.url


def test_workers_survive_a_broker_restart_and_lose_nothing(
    tmp_path: Path, server: RedisServer | PostgresServer, workers: Workers
) -> None:
    client: QueueTasks = procapp.make_app(broker_url=server.url)
    markers = [tmp_path / f"m{i}.txt" for i in range(400)]
    sent = client.tasks["marked_sleep"].add_tasks([(str(m), 0.02) for m in markers])
    client.close()
    pair = [workers.start("-c", "4"), workers.start("-c", "4")]
    for worker in pair:  # both connected (a worker that cannot connect at start exits)
        worker.wait_ready()
    wait_until(lambda: sum(m.exists() for m in markers) > 20, timeout=30, what="work to start")

    server.stop()
    time.sleep(2.0)  # workers keep trying meanwhile
    server.start()

    client = procapp.make_app(broker_url=server.url)
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


def test_sigterm_with_the_broker_down_ends_the_worker_in_time_and_loses_nothing(
    tmp_path: Path, server: RedisServer | PostgresServer, workers: Workers
) -> None:
    """The outcomes a stopping worker cannot store (its broker is gone) are never
    acknowledged: the worker exits within the grace period plus a few seconds, and the
    tasks run again, from another worker, once the broker is back and their leases expire."""
    client: QueueTasks = procapp.make_app(broker_url=server.url)
    markers = [tmp_path / f"m{i}.txt" for i in range(4)]
    sent = client.tasks["marked_sleep"].add_tasks([(str(m), 1.5) for m in markers])
    client.close()
    env = {"QTASKS_LEASE_SECONDS": "3", "QTASKS_GRACE_PERIOD": "5"}
    worker = workers.start("-c", "4", env=env)
    wait_until(lambda: all(m.exists() for m in markers), timeout=30, what="the tasks to start")
    server.kill()  # gone for good while the tasks are still running
    worker.send(signal.SIGTERM)
    started = time.monotonic()
    worker.wait_exit(30)
    assert time.monotonic() - started < 5 + 12, worker.log()
    assert "could not be stored" in worker.log() or "releasing them failed" in worker.log()

    server.start()
    again = workers.start("-c", "4", env=env)
    client = procapp.make_app(broker_url=server.url)
    for task in sent:
        done = client.wait_result(task.uuid, timeout=60)
        assert done is not None and done.status == "success", again.log()
    client.close()


def test_a_burst_worker_whose_broker_goes_away_exits_non_zero(
    tmp_path: Path, server: RedisServer | PostgresServer, workers: Workers
) -> None:
    """A ``--burst`` run (cron, CI) must end, and say it failed, when its broker is gone."""
    client: QueueTasks = procapp.make_app(broker_url=server.url)
    markers = [tmp_path / f"m{i}.txt" for i in range(200)]
    client.tasks["marked_sleep"].add_tasks([(str(m), 0.05) for m in markers])
    client.close()
    worker = workers.start("--burst", "-c", "2", env={"QTASKS_GRACE_PERIOD": "1"})
    wait_until(lambda: sum(m.exists() for m in markers) > 5, timeout=30, what="work to start")
    server.kill()
    assert worker.wait_exit(60) == 1, worker.log()
    assert "burst worker gave up" in worker.log()


def test_the_first_call_after_a_restart_never_fails_on_a_stale_connection(
    server: RedisServer | PostgresServer,
) -> None:
    client: QueueTasks = procapp.make_app(broker_url=server.url)
    assert client.add_task("add", 1, 2) is not None  # a pooled connection, now open
    server.stop()
    server.start()
    for _ in range(3):  # the pooled connection broke: the call reconnects, never fails
        assert client.add_task("add", 1, 2) is not None
        assert client.count()["new"] >= 2
    client.close()


def test_a_frozen_redis_is_a_broker_error(tmp_path: Path) -> None:
    """SIGSTOP: the server accepts nothing and answers nothing; the call times out with a
    ``BrokerError`` (not redis-py's own TimeoutError), and works again once it wakes."""
    data = tmp_path / "frozen"
    data.mkdir()
    frozen = RedisServer(data)
    frozen.start()
    try:
        client: QueueTasks = procapp.make_app(broker_url=frozen.url)
        assert client.add_task("add", 1, 2) is not None
        assert frozen.proc is not None
        frozen.proc.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(BrokerError, match="Timeout"):
                client.add_task("add", 1, 2)
        finally:
            frozen.proc.send_signal(signal.SIGCONT)
        assert client.add_task("add", 1, 2) is not None
        client.close()
    finally:
        frozen.kill()
