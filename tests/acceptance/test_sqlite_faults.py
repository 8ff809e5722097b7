"""Faults an operator meets with the SQLite file: read-only file or folder, a damaged
file, a file deleted under a running worker. Each is one clear line (``BrokerError``)
in the caller and in the CLI; a ``--burst`` worker that cannot reach its file exits
non-zero; a deleted file is noticed and reported.

The suite runs as root, whom file permissions do not stop: "read-only" is made with
``chattr +i`` (immutable), which stops root too."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qtasks import QueueTasks
from qtasks.core.errors import BrokerError

from .conftest import Workers, wait_until


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def _cli(workers: Workers, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qtasks", "-A", "procapp:app", *(args or ("status",))],
        cwd=workers.tmp_path,
        env=workers.env({"QTASKS_BROKER_URL": url}),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _one_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


def test_a_read_only_file_or_folder_is_one_clear_error(tmp_path: Path, workers: Workers) -> None:
    path = tmp_path / "ro.sqlite3"
    app = QueueTasks(broker_url=f"sqlite:///{path}")
    app.add_task("x")
    app.close()
    with immutable(path):
        app = QueueTasks(broker_url=f"sqlite:///{path}")
        with pytest.raises(BrokerError, match="read-only"):
            app.add_task("x")
        url = f"sqlite:///{path}"
        assert _cli(workers, url, "status").returncode == 0  # reading still works
        assert "read-only" in _one_line(_cli(workers, url, "dead", "purge", "--all").stderr)

    folder = tmp_path / "ro-folder"
    folder.mkdir()
    with immutable(folder):
        url = f"sqlite:///{folder / 'queue.sqlite3'}"
        with pytest.raises(BrokerError, match="folder must be writable"):
            QueueTasks(broker_url=url).add_task("x")
        assert "folder must be writable" in _one_line(_cli(workers, url).stderr)
        burst = workers.start("--burst", env={"QTASKS_BROKER_URL": url})
        assert burst.wait_exit(60) == 1, burst.log()
        assert "folder must be writable" in burst.log()


def test_a_damaged_file_is_one_clear_error(tmp_path: Path, workers: Workers) -> None:
    path = tmp_path / "damaged.sqlite3"
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    with pytest.raises(BrokerError, match=r"not a SQLite database|damaged"):
        QueueTasks(broker_url=f"sqlite:///{path}").add_task("x")
    line = _one_line(_cli(workers, f"sqlite:///{path}").stderr)
    assert "damaged" in line or "not a SQLite database" in line


def test_a_file_deleted_under_a_running_worker_is_noticed(
    db_path: Path, workers: Workers, client: QueueTasks
) -> None:
    worker = workers.start()
    worker.wait_ready()
    assert client.tasks["add"].add_task(1, 1, timeout=30) is not None
    client.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    wait_until(lambda: "was deleted" in worker.log(), timeout=30, what="the worker to notice")
    fresh = QueueTasks("procapp", broker_url=f"sqlite:///{db_path}")
    done = fresh.add_task("add", 2, 3, timeout=30)  # served again, from the new file
    assert done is not None and done.returning == 5, worker.log()
    fresh.close()


def test_a_full_disk_is_one_clear_error(tmp_path: Path) -> None:
    """SQLite reports a full disk as SQLITE_FULL; ``max_page_count`` makes a file reach it
    without filling the machine's disk."""
    app = QueueTasks(broker_url=f"sqlite:///{tmp_path / 'full.sqlite3'}")
    app.add_task("x")  # the file exists, with its schema

    async def fill() -> None:
        broker = app._client.new_broker()
        await broker.connect()
        pages = broker._db().execute("PRAGMA page_count").fetchone()[0]
        broker._db().execute(f"PRAGMA max_page_count = {pages + 2}")
        try:
            with pytest.raises(BrokerError, match="the disk is full"):
                for _ in range(200):
                    await broker.enqueue([_envelope("y" * 4_000)])
        finally:
            await broker.close()

    asyncio.run(fill())
    assert app.count()["new"] >= 1  # what was stored before stays
    app.close()


def _envelope(payload: str) -> Any:
    import time

    from qtasks.core.envelope import Envelope
    from qtasks.core.ids import new_task_id

    now = time.time()
    return Envelope(
        id=new_task_id(), task_name="y", queue="default", args=(payload,), created_at=now, eta=now
    )
