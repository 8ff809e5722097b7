"""Nothing a message or a task does can kill the worker: each failure is stored as an error."""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path
from uuid import UUID

from qtasks import QueueTasks, Task

from .conftest import Workers, insert_raw, query

#: task name -> text its stored traceback must contain
EXPECTED_TRACEBACK = {
    "fail.system_exit": "SystemExit: 3",
    "fail.keyboard_interrupt": "KeyboardInterrupt: ctrl-c from inside a task",
    "fail.custom_base": "CustomBaseError: custom base boom",
    "fail.unserializable": "not JSON-serializable",
    "fail.loop.system_exit": "SystemExit: 3",
    "fail.loop.keyboard_interrupt": "KeyboardInterrupt: ctrl-c from inside a task",
    "fail.loop.custom_base": "CustomBaseError: custom base boom",
    "fail.async.system_exit": "SystemExit: 4",
    "fail.async.keyboard_interrupt": "KeyboardInterrupt: async ctrl-c from inside a task",
    "fail.async.custom_base": "CustomBaseError: async custom base boom",
    "fail.async.cancelled": "CancelledError",
    "fail.async.unserializable": "not JSON-serializable",
}


def test_bad_messages_and_failing_tasks_never_kill_the_worker(
    db_path: Path, workers: Workers, client: QueueTasks
) -> None:
    worker = workers.start()
    worker.wait_ready()

    not_json = insert_raw(db_path, task_name="garbage", body=b"not json")
    not_json_text = insert_raw(db_path, task_name="garbage-text", body="{still not json")
    wrong_shape = insert_raw(db_path, task_name="wrong-shape", body=b'["a", "list"]')
    unknown_id = str(uuid.uuid4())
    unknown = insert_raw(
        db_path,
        task_id=unknown_id,
        task_name="no.such:task",
        body=json.dumps(
            {"id": unknown_id, "task_name": "no.such:task", "queue": "default", "args": [1]}
        ).encode(),
    )
    bad_args = client.tasks["add"].add_task(1, 2, 3)  # TypeError inside the task
    failing = {name: client.add_task(name) for name in EXPECTED_TRACEBACK}

    def final(task_id: UUID | str) -> Task:
        record = client.wait_result(task_id, timeout=30)
        assert record is not None, f"task {task_id} never finished"
        return record

    for task_id in (not_json, not_json_text, wrong_shape):
        record = final(task_id)
        assert record.status == "error"
        assert "undecodable message body" in record.traceback

    record = final(unknown)
    assert record.status == "error"
    assert "TaskNotFoundError" in record.traceback
    assert "no.such:task" in record.traceback

    assert bad_args is not None
    record = final(bad_args.uuid)
    assert record.status == "error"
    assert "TypeError" in record.traceback

    for name, queued in failing.items():
        assert queued is not None
        record = final(queued.uuid)
        assert record.status == "error", (name, record)
        assert EXPECTED_TRACEBACK[name] in record.traceback, (name, record.traceback)
        assert "Traceback (most recent call last)" in record.traceback

    # the same process, still alive, still works
    assert worker.alive(), worker.log()
    normal = client.tasks["add"].add_task(20, 22, timeout=30)
    assert normal is not None
    assert normal.status == "success", normal.traceback
    assert normal.returning == 42
    assert worker.alive()

    worker_ids = {row[0] for row in query(db_path, "SELECT worker_id FROM qtasks_task")}
    assert len(worker_ids) == 1
    assert normal.worker_id in worker_ids and f":{worker.pid}:" in normal.worker_id
    statuses = dict(query(db_path, "SELECT status, count(*) FROM qtasks_task GROUP BY status"))
    assert statuses == {"error": 5 + len(EXPECTED_TRACEBACK), "success": 1}

    worker.send(signal.SIGTERM)
    assert worker.wait_exit(30) == 0


def test_body_whose_id_differs_from_its_row(
    db_path: Path, workers: Workers, client: QueueTasks
) -> None:
    """A row whose body carries another task's id must not complete that other task."""
    # a task waiting in a queue this worker does not serve
    bystander = insert_raw(
        db_path,
        task_name="add",
        queue="elsewhere",
        body=json.dumps({"id": "x", "task_name": "add", "queue": "elsewhere"}).encode(),
    )
    row_id = str(uuid.uuid4())
    insert_raw(
        db_path,
        task_id=row_id,
        task_name="add",
        body=json.dumps(
            {"id": bystander, "task_name": "add", "queue": "default", "args": [1, 2]}
        ).encode(),
    )
    worker = workers.start(env={"QTASKS_LEASE_SECONDS": "2"})
    worker.wait_ready()

    record = client.wait_result(row_id, timeout=4)
    other = client.get(bystander)
    assert other is not None and other.status == "new", "a task that never ran was completed"
    assert record is not None and record.status in ("success", "error")


def test_task_raising_cancelled_error_keeps_its_traceback(
    workers: Workers, client: QueueTasks
) -> None:
    workers.start()
    record = client.add_task("fail.async.cancelled", timeout=30)
    assert record is not None and record.status == "error"
    assert record.traceback is not None
    assert "Traceback (most recent call last)" in record.traceback
    assert "the task raised CancelledError itself" in record.traceback


def test_undecodable_row_keeps_its_task_name(
    db_path: Path, workers: Workers, client: QueueTasks
) -> None:
    task_id = insert_raw(db_path, task_name="billing:invoice", body=b"not json")
    workers.start()
    record = client.wait_result(task_id, timeout=30)
    assert record is not None and record.status == "error"
    assert record.task_name == "billing:invoice"
