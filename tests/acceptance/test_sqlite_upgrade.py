"""A SQLite file written by schema version 3 (before app namespaces) upgrades in place:
its tasks belong to the app that opens it first, and a real worker drains them."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import time
import uuid
from pathlib import Path

from qtasks import QueueTasks
from qtasks.brokers.sqlite import SCHEMA_VERSION

from . import procapp
from .conftest import Workers, query

#: The table as schema version 3 made it (qtasks 0.x before app namespaces).
SCHEMA_V3 = """
CREATE TABLE qtasks_task (
    id TEXT NOT NULL PRIMARY KEY, queue TEXT NOT NULL, task_name TEXT NOT NULL,
    priority INTEGER NOT NULL, eta REAL NOT NULL, status TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0, lease_until REAL, worker_id TEXT, worker_ids TEXT,
    body BLOB NOT NULL, result BLOB, traceback TEXT, error_type TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, started_at REAL, finished_at REAL,
    expires_at REAL, retry_parent TEXT, retry_child TEXT, cancel_reason TEXT,
    cancel_requested TEXT, at_most_once INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX qtasks_task_ready ON qtasks_task (queue, priority DESC, eta, id)
    WHERE status = 'new';
CREATE INDEX qtasks_task_leased ON qtasks_task (lease_until) WHERE status = 'process';
CREATE INDEX qtasks_task_expiry ON qtasks_task (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX qtasks_task_dead ON qtasks_task (finished_at) WHERE status = 'error';
PRAGMA user_version = 3;
"""


def _row(task_name: str, args: list[object], **columns: object) -> dict[str, object]:
    task_id, now = str(uuid.uuid4()), time.time()
    body = json.dumps(
        {"id": task_id, "task_name": task_name, "queue": "default", "args": args}
    ).encode()
    row: dict[str, object] = {
        "id": task_id,
        "queue": "default",
        "task_name": task_name,
        "priority": 0,
        "eta": now,
        "status": "new",
        "body": body,
        "created_at": now,
        "updated_at": now,
    }
    row.update(columns)
    return row


def write_v3(path: Path, rows: list[dict[str, object]]) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(SCHEMA_V3)
        for row in rows:
            names = ", ".join(row)
            marks = ", ".join(f":{name}" for name in row)
            conn.execute(f"INSERT INTO qtasks_task ({names}) VALUES ({marks})", row)
        conn.commit()


def test_a_version_3_file_is_upgraded_and_drained(
    db_path: Path, db_url: str, workers: Workers
) -> None:
    later = time.time() + 1.5
    ready = _row("add", [1, 2])
    delayed = _row("add", [3, 4], eta=later)
    finished = _row(
        "add", [5, 6], status="success", result=b"11", finished_at=time.time(), attempt=1
    )
    dead = _row(
        "add",
        [7, 8],
        status="error",
        traceback="Traceback: boom",
        error_type="builtins.ValueError",
        finished_at=time.time(),
        attempt=1,
    )
    write_v3(db_path, [ready, delayed, finished, dead])

    worker = workers.start(env={"PROCAPP_NAME": "billing"})  # opens the file first
    worker.wait_ready()
    assert query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]  # 3, 4, 5, ... in turn
    billing = procapp.make_app(broker_url=db_url, name="billing")
    other = QueueTasks(name="mail", broker_url=db_url)
    try:
        done = billing.wait_result(str(ready["id"]), timeout=30)
        assert done is not None and done.returning == 3
        done_later = billing.wait_result(str(delayed["id"]), timeout=30)
        assert done_later is not None and done_later.returning == 7
        kept = billing.get(str(finished["id"]))
        assert kept is not None and kept.status == "success" and kept.returning == 11
        assert [t.uuid for t in billing.dead_letters()] == [uuid.UUID(str(dead["id"]))]
        assert billing.requeue_dead(str(dead["id"])) == 1
        requeued = billing.wait_result(str(dead["id"]), timeout=30)
        assert requeued is not None and requeued.returning == 15

        # the rows are billing's: another app on the file sees none of them
        assert other.count() == {}
        assert all(other.get(str(r["id"])) is None for r in (ready, delayed, finished, dead))
        assert query(db_path, "SELECT DISTINCT app FROM qtasks_task") == [("billing",)]
        worker.send(signal.SIGTERM)
        assert worker.wait_exit(30) == 0
    finally:
        billing.close()
        other.close()
