"""``Worker.run`` and ``app.run_forever()`` with a broker that does not answer: one
``BrokerError`` with the one line the CLI prints, at once (no endless retries), or after
``wait_for_broker``; a stop request ends the wait."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from qtasks import QueueTasks
from qtasks.core.errors import BrokerError
from qtasks.worker.startup import start_failure


def test_run_forever_raises_the_one_line_at_once() -> None:
    app = QueueTasks("unreachable", broker_url="redis://127.0.0.1:1/0")
    started = time.monotonic()
    with pytest.raises(BrokerError) as raised:
        app.run_forever()
    assert time.monotonic() - started < 10
    message = str(raised.value)
    assert message.startswith("cannot connect to the broker")
    assert "redis://127.0.0.1:1/0" in message and "Connect call failed" in message
    assert "\n" not in message


def test_a_missing_sqlite_folder_fails_the_worker(tmp_path: Path) -> None:
    app = QueueTasks("nofolder", broker_url=f"sqlite:///{tmp_path}/missing/q.sqlite3")
    worker = app.make_worker(burst=True)
    worker.broker_label = "the-label"
    with pytest.raises(BrokerError, match=r"^cannot connect to the broker at the-label: SQLite "):
        asyncio.run(worker.run(install_signals=False))


def test_waiting_retries_until_the_folder_exists(tmp_path: Path) -> None:
    folder = tmp_path / "later"
    app = QueueTasks("later", broker_url=f"sqlite:///{folder}/q.sqlite3")
    worker = app.make_worker(burst=True)

    async def main() -> None:
        asyncio.get_running_loop().call_later(0.6, folder.mkdir)
        await worker.run(install_signals=False, wait_for_broker=20)

    started = time.monotonic()
    asyncio.run(main())  # a burst worker: connects, finds nothing to do, returns
    assert 0.6 <= time.monotonic() - started < 10
    assert (folder / "q.sqlite3").exists()


def test_a_stop_request_ends_the_wait(tmp_path: Path) -> None:
    app = QueueTasks("stopped", broker_url=f"sqlite:///{tmp_path}/never/q.sqlite3")
    worker = app.make_worker()

    async def main() -> None:
        asyncio.get_running_loop().call_later(0.5, worker.request_stop)
        await worker.run(install_signals=False, wait_for_broker=60)

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 5


def test_the_line_keeps_the_drivers_words_once() -> None:
    wrapped = BrokerError("Redis at redis://h:1/0 failed: Error 111 connecting to h:1.")
    assert start_failure("redis://h:1/0", wrapped) == (
        "cannot connect to the broker at redis://h:1/0: Error 111 connecting to h:1"
    )
    multi = BrokerError("PostgreSQL at h:1/db failed: refused\n\tIs the server running?")
    assert start_failure("postgresql://h:1/db", multi) == (
        "cannot connect to the broker at postgresql://h:1/db: refused Is the server running?"
    )
    own = BrokerError("SQLite database directory does not exist: /x")
    assert start_failure("sqlite:////x/q", own).endswith(
        ": SQLite database directory does not exist: /x"
    )
    assert start_failure(None, wrapped) == (
        "cannot connect to the broker: Redis at redis://h:1/0 failed: Error 111 connecting to h:1"
    )
