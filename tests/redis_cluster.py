"""Throwaway local Redis servers for the tests: a 3-node Cluster, a Sentinel, a TLS server.

Each server is a real ``redis-server`` child process in a temporary directory, with no
persistence, stopped by the test session that started it. A missing binary, a port in
use or a server that does not come up FAILS the test with the reason: never a skip.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

#: Where the search for free ports starts: the cluster's nodes (each also uses port +
#: 10000 for the cluster bus), a Sentinel test's servers, the TLS-only server. Ports in
#: use are passed over, so two test sessions at once do not collide.
CLUSTER_FIRST_PORT = 7101
SENTINEL_FIRST_PORT = 7201
TLS_FIRST_PORT = 7301

START_TIMEOUT = 30.0


def redis_binary(name: str = "redis-server") -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (Debian: apt-get install redis-server)")
    return found


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = START_TIMEOUT) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def port_error(port: int) -> OSError | None:
    """Why redis-server could not listen on ``port`` of 127.0.0.1, or None."""
    with socket.socket() as probe:
        # as redis-server binds: a port whose old connections linger in TIME_WAIT is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc
    return None


def free_ports(count: int, first: int, *, bus: bool = False) -> list[int]:
    """``count`` free ports from ``first`` on (with ``bus``, port + 10000 free as well)."""
    found = [
        port
        for port in range(first, first + 90)
        if port_error(port) is None and not (bus and port_error(port + 10000))
    ]
    if len(found) < count:
        pytest.fail(f"fewer than {count} free ports between {first} and {first + 89}")
    return found[:count]


class RedisServer:
    """One ``redis-server`` child process on 127.0.0.1; its output goes to a log file."""

    def __init__(self, directory: Path, port: int, *options: str) -> None:
        self.directory = directory
        self.port = port
        self.log_path = directory / f"redis-{port}.log"
        if error := port_error(port):
            pytest.fail(f"port {port} on 127.0.0.1 is taken ({error}); the test needs it free")
        directory.mkdir(parents=True, exist_ok=True)
        cmd = [redis_binary(), *options, "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        cmd += ["no", "--dir", str(directory), "--daemonize", "no"]
        if "--port" not in options:
            cmd[1:1] = ["--port", str(port)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._listening, f"redis-server on port {port} to listen")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _listening(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"redis-server on port {self.port} exited:\n{self.log()}")
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def client(self, **options: Any) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, **options)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@contextlib.contextmanager
def servers(*started: Callable[[], RedisServer]) -> Iterator[list[RedisServer]]:
    """Start servers in order; stop every one that started, whatever happens."""
    running: list[RedisServer] = []
    try:
        for start in started:
            running.append(start())
        yield running
    finally:
        for server in reversed(running):
            server.stop()


# TLS ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    """A throwaway CA, a server certificate for 127.0.0.1, and a client certificate."""

    ca: Path
    server: Path
    """The server's key and certificate chain, in one PEM file."""
    client_cert: Path
    client_key: Path

    @classmethod
    def make(cls, directory: Path) -> Certificates:
        import trustme  # only the TLS tests need it (tests/conftest.py imports this module)

        ca = trustme.CA()
        made = cls(*(directory / f"{n}.pem" for n in ("ca", "server", "client", "client-key")))
        ca.cert_pem.write_to_path(str(made.ca))
        server = ca.issue_cert("127.0.0.1", "localhost")
        server.private_key_and_cert_chain_pem.write_to_path(str(made.server))
        client = ca.issue_cert("qtasks-test-client")
        client.cert_chain_pems[0].write_to_path(str(made.client_cert))
        client.private_key_pem.write_to_path(str(made.client_key))
        return made

    def server_options(self) -> tuple[str, ...]:
        """TLS only (``--port 0``); a client certificate is checked when one is given."""
        return (
            "--port",
            "0",
            "--tls-cert-file",
            str(self.server),
            "--tls-key-file",
            str(self.server),
            "--tls-ca-cert-file",
            str(self.ca),
            "--tls-auth-clients",
            "optional",
        )

    def client_options(self) -> dict[str, Any]:
        return {"ssl": True, "ssl_ca_certs": str(self.ca)}


# the cluster --------------------------------------------------------------------------------


def cluster_ports(url: str) -> list[int]:
    """The node ports of a ``redis+cluster://127.0.0.1:p1,127.0.0.1:p2,...`` URL."""
    return [int(node.rpartition(":")[2]) for node in url.split("://")[1].split(",")]


@contextlib.contextmanager
def local_cluster(directory: Path, tls: Certificates | None = None) -> Iterator[str]:
    """Three masters, no replicas, all 16384 slots covered; yields the cluster URL.

    With ``tls``, the nodes speak TLS only, to clients and to each other.
    """
    first = CLUSTER_FIRST_PORT if tls is None else TLS_FIRST_PORT + 10
    ports = free_ports(3, first, bus=True)
    nodes = [
        lambda p=port: RedisServer(
            directory / str(p),
            p,
            *(("--tls-port", str(p), "--tls-cluster", "yes", *tls.server_options()) if tls else ()),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(directory / f"nodes-{p}.conf"),
            "--cluster-node-timeout",
            "5000",
        )
        for port in ports
    ]
    create_cmd = [redis_binary("redis-cli"), *(("--tls", "--cacert", str(tls.ca)) if tls else ())]
    create_cmd += ["--cluster", "create", *(f"127.0.0.1:{p}" for p in ports)]
    create_cmd += ["--cluster-replicas", "0", "--cluster-yes"]
    with servers(*nodes) as running:
        create = subprocess.run(
            create_cmd,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if create.returncode != 0:
            pytest.fail(f"redis-cli --cluster create failed:\n{create.stdout}\n{create.stderr}")
        for server in running:
            with server.client(**(tls.client_options() if tls else {})) as client:
                wait_for(
                    lambda c=client: c.cluster("INFO")["cluster_state"] == "ok",
                    f"cluster_state:ok on port {server.port}",
                )
        scheme = "rediss+cluster" if tls else "redis+cluster"
        yield f"{scheme}://" + ",".join(f"127.0.0.1:{p}" for p in ports)


def flush_cluster(url: str) -> None:
    """Empty every master (the cluster is private to this test session)."""
    for port in cluster_ports(url):
        with redis.Redis(host="127.0.0.1", port=port) as client:
            client.flushall()
