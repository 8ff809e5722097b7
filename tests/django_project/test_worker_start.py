"""``manage.py qtasks_worker`` with a broker that does not answer at start: one line and
exit status 1, or with ``--wait-for-broker``, retries and then runs the task."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.django_project.test_backend import ROOT, SETTINGS


def _env(broker: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "QTASKS_DJANGO_TEST_BROKER": broker,  # the settings' TASKS["default"] broker
        "COLUMNS": "400",
    }


def _worker(broker: str, log: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "django", "qtasks_worker", *args],
        env=_env(broker),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


def _wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_unreachable_broker_is_one_line_and_exit_1(tmp_path: Path) -> None:
    broker = f"sqlite:///{tmp_path}/no/folder/broker.sqlite3"
    log = tmp_path / "worker.log"
    worker = _worker(broker, log)
    assert worker.wait(60) == 1, log.read_text()
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert len(lines) == 2, lines  # the banner, the reason
    assert lines[1] == (
        f"CommandError: BrokerError: cannot connect to the broker at {broker}: "
        f"SQLite database directory does not exist: {tmp_path}/no/folder"
    )


def test_wait_for_broker_then_runs_the_task(tmp_path: Path) -> None:
    folder = tmp_path / "later"
    broker = f"sqlite:///{folder}/broker.sqlite3"
    log = tmp_path / "worker.log"
    worker = _worker(broker, log, "--wait-for-broker", "30")
    try:
        _wait_for(lambda: "attempt 1:" in log.read_text(), 60, "a first failed attempt")
        assert worker.poll() is None, log.read_text()
        folder.mkdir()
        out = tmp_path / "ran.txt"
        enqueue = (
            "import django; django.setup()\n"
            "from tests.django_project.djapps.shop import tasks\n"
            f"tasks.record_order.enqueue({str(out)!r}, 'ran')\n"
        )
        sent = subprocess.run(
            [sys.executable, "-c", enqueue], env=_env(broker), cwd=ROOT, capture_output=True
        )
        assert sent.returncode == 0, sent.stderr
        _wait_for(out.exists, 60, "the task to run")
        assert out.read_text() == "ran\n"
    finally:
        worker.terminate()
        code = worker.wait(30)
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()


def test_wait_for_broker_takes_seconds_only(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    worker = _worker("memory://x", log, "--wait-for-broker", "soon")
    assert worker.wait(60) == 2
    assert "expected seconds (a number >= 0), got 'soon'" in log.read_text()
