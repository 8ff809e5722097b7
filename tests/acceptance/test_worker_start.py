"""A worker whose broker does not answer at start: one clear line and exit status 1, on
every transport; with ``--wait-for-broker`` it retries (one line per attempt) and runs
once the broker is there."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from qtasks.brokers.urls import display_url

from . import procapp
from .conftest import WorkerProc, Workers, wait_until

pytestmark = pytest.mark.timeout(120)


def _lines(worker: WorkerProc) -> list[str]:
    return [" ".join(line.split()) for line in worker.log().splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("redis://127.0.0.1:1/0", "Connect call failed"),
        ("postgresql://postgres@127.0.0.1:1/test", "Connection refused"),
        ("sqlite:///{tmp}/no/such/folder/queue.sqlite3", "directory does not exist"),
        ("sqlite:////proc/queue.sqlite3", "cannot be opened or created"),
    ],
    ids=["redis", "postgres", "sqlite-no-folder", "sqlite-read-only"],
)
def test_unreachable_broker_at_start_is_one_line_and_exit_1(
    workers: Workers, url: str, cause: str
) -> None:
    url = url.format(tmp=workers.tmp_path)
    worker = workers.start(env={"QTASKS_BROKER_URL": url})
    assert worker.wait_exit(30) == 1, worker.log()
    lines = _lines(worker)
    assert len(lines) == 2, lines  # the banner, then the reason
    assert lines[0].startswith("qtasks worker for procapp on ")
    assert lines[1].startswith(f"Error: BrokerError: cannot connect to the broker at {url}: ")
    assert cause in lines[1]
    assert "listening" not in worker.log() and "Traceback" not in worker.log()


def test_the_line_masks_the_password(workers: Workers) -> None:
    url = "redis://:s3cret-word@127.0.0.1:1/0"
    worker = workers.start(env={"QTASKS_BROKER_URL": url})
    assert worker.wait_exit(30) == 1
    assert "s3cret-word" not in worker.log()
    assert f"cannot connect to the broker at {display_url(url)}: " in worker.log()
    assert "redis://:***@127.0.0.1:1/0" in worker.log()


def test_waiting_gives_up_after_the_time_given(workers: Workers) -> None:
    started = time.monotonic()
    worker = workers.start(
        "--wait-for-broker", "2", env={"QTASKS_BROKER_URL": "redis://127.0.0.1:1/0"}
    )
    assert worker.wait_exit(30) == 1, worker.log()
    assert 2 <= time.monotonic() - started < 20
    lines = _lines(worker)
    attempts = [line for line in lines if "attempt " in line]
    assert len(attempts) >= 3, lines  # 0.25 s, 0.5 s, 1 s ... apart
    assert all("cannot connect to the broker at redis://127.0.0.1:1/0" in a for a in attempts)
    assert lines[-1].startswith("Error: BrokerError: cannot connect to the broker at redis://")
    assert "(gave up after 2s," in lines[-1]
    assert len(lines) == len(attempts) + 2  # the banner, one line per attempt, the reason
    assert "listening" not in worker.log() and "Traceback" not in worker.log()


def test_a_stop_signal_ends_the_wait(workers: Workers) -> None:
    worker = workers.start(
        "--wait-for-broker", "60", env={"QTASKS_BROKER_URL": "redis://127.0.0.1:1/0"}
    )
    wait_until(lambda: "attempt 2:" in worker.log(), timeout=30, what="a second attempt")
    worker.send(signal.SIGTERM)
    assert worker.wait_exit(15) == 0, worker.log()
    assert "stopped while waiting for the broker" in worker.log()


def test_waits_for_a_sqlite_folder_made_later(workers: Workers, tmp_path: Path) -> None:
    folder = tmp_path / "made-later"
    url = f"sqlite:///{folder}/queue.sqlite3"
    worker = workers.start("--wait-for-broker", "20", env={"QTASKS_BROKER_URL": url})
    wait_until(lambda: "attempt 1:" in worker.log(), timeout=30, what="a first failed attempt")
    assert worker.alive()
    folder.mkdir()
    runs_then_stops(worker, url)
    assert "directory does not exist" in worker.log() and "Traceback" not in worker.log()


def runs_then_stops(worker: WorkerProc, url: str) -> None:
    """The worker, once ready, runs a task sent on ``url``, then stops on SIGTERM."""
    worker.wait_ready()
    client = procapp.make_app(broker_url=url)
    try:
        done = client.tasks["add"].add_task(20, 22, timeout=30)
    finally:
        client.close()
    assert done is not None and done.status == "success" and done.returning == 42
    worker.send(signal.SIGTERM)
    assert worker.wait_exit(30) == 0, worker.log()


def test_waits_for_a_redis_server_started_later(workers: Workers, tmp_path: Path) -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    worker = workers.start("--wait-for-broker", "20", env={"QTASKS_BROKER_URL": url})
    wait_until(lambda: "attempt 1:" in worker.log(), timeout=30, what="a first failed attempt")
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        runs_then_stops(worker, url)
    finally:
        server.terminate()
        server.wait(15)
    assert "Traceback" not in worker.log()
