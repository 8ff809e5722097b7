"""Outcomes no store accepts as they are, and messages no decoder can read, never jam a
worker: each is stored (escaped, or as an error) and the worker goes on with the rest."""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path

import pytest

from qtasks import QueueTasks

from .conftest import Workers, insert_raw

pytestmark = pytest.mark.timeout(240)


@pytest.mark.parametrize("db_url", ["sqlite", "redis", "postgres"], indirect=True)
def test_texts_no_store_accepts_are_stored_escaped_and_the_worker_goes_on(
    workers: Workers, client: QueueTasks
) -> None:
    failing = [client.add_task("fail.text", text) for text in ("aSb", "aNb", "SNS")]
    cancelled = [client.add_task("cancel.text", text) for text in ("cSd", "cNd")]
    ordinary = client.tasks["add"].add_tasks([(i, 1) for i in range(1000)])
    worker = workers.start("-c", "8")

    for queued, raw in zip(failing, ("a\\ud800b", "a\\x00b", "\\ud800\\x00\\ud800"), strict=True):
        assert queued is not None
        record = client.wait_result(queued.uuid, timeout=60)
        assert record is not None and record.status == "error", worker.log()
        assert f"ValueError: {raw}" in (record.traceback or "")  # escaped, readable
        assert "stored escaped" in (record.traceback or "")  # and it says so
    for queued, reason in zip(cancelled, ("c\\ud800d", "c\\x00d"), strict=True):
        assert queued is not None
        record = client.wait_result(queued.uuid, timeout=60)
        assert record is not None and record.status == "cancel"
        assert record.cancel_reason == reason
    for task in ordinary:
        done = client.wait_result(task.uuid, timeout=60)
        assert done is not None and done.status == "success", worker.log()
    assert client.count().get("success") == 1000

    worker.send(signal.SIGTERM)
    assert worker.wait_exit(30) == 0


def test_a_message_nested_deeper_than_the_decoder_goes_is_a_dead_letter(
    db_path: Path, workers: Workers, client: QueueTasks
) -> None:
    task_id = str(uuid.uuid4())
    head = json.dumps({"id": task_id, "task_name": "add", "queue": "default"})[:-1]
    body = head + ', "args": [' + "[" * 10_000 + "]" * 10_000 + "]}"
    insert_raw(db_path, task_id=task_id, task_name="add", body=body)
    ordinary = client.tasks["add"].add_tasks([(i, 1) for i in range(1000)])
    worker = workers.start("-c", "8")

    record = client.wait_result(task_id, timeout=60)
    assert record is not None and record.status == "error", worker.log()
    assert "undecodable message body" in (record.traceback or "")
    assert "recursion" in (record.traceback or "")
    assert [d.uuid for d in client.dead_letters()] == [record.uuid]
    assert record.task_name == "add"  # the record reads back; its body is not needed
    for task in ordinary:
        done = client.wait_result(task.uuid, timeout=60)
        assert done is not None and done.status == "success"
    worker.send(signal.SIGTERM)
    assert worker.wait_exit(30) == 0
