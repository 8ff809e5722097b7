"""The task log: one line per task event at the right level, with the task's fields on
the record, and the JSON format carrying them as keys."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from qtasks import QueueTasks
from qtasks.config import QueueConfig
from qtasks.logs import JsonFormatter, TaskLog, configure
from qtasks.testing import drain, worker_thread

_apps = itertools.count()


@pytest.fixture
def app() -> Iterator[QueueTasks]:
    n = next(_apps)
    app = QueueTasks(
        name=f"logs{n}", broker_url=f"memory://task-logs-{n}", config=QueueConfig(retry_backoff=0)
    )
    yield app
    app.close()


def task_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "qtasks.tasks"]


def test_success_is_one_info_line_with_the_duration(
    app: QueueTasks, caplog: pytest.LogCaptureFixture
) -> None:
    @app.task
    def add(a: int, b: int) -> int:
        return a + b

    caplog.set_level(logging.INFO, logger="qtasks.tasks")
    task = add.add_task(1, 2)
    drain(app)
    (record,) = task_records(caplog)
    assert record.levelno == logging.INFO
    assert record.getMessage().startswith(f"task add[{task.uuid}] succeeded in ")  # type: ignore[union-attr]
    assert record.getMessage().endswith(" ms")
    assert record.task_id == str(task.uuid)  # type: ignore[attr-defined,union-attr]
    assert record.task_name == "add" and record.queue == "default"  # type: ignore[attr-defined]
    assert record.attempt == 1 and record.status == "success"  # type: ignore[attr-defined]
    assert record.duration_ms >= 0  # type: ignore[attr-defined]
    assert record.worker_id.count(":") == 2  # type: ignore[attr-defined]


def test_start_lines_are_debug(app: QueueTasks, caplog: pytest.LogCaptureFixture) -> None:
    @app.task
    def one() -> None:
        return None

    caplog.set_level(logging.DEBUG, logger="qtasks.tasks")
    one.add_task()
    drain(app)
    levels = [(r.levelno, r.getMessage().split("] ")[1][:7]) for r in task_records(caplog)]
    assert levels == [(logging.DEBUG, "started"), (logging.INFO, "succeed")]


def test_quiet_success_logs_success_at_debug(
    app: QueueTasks, caplog: pytest.LogCaptureFixture
) -> None:
    app.hooks.of_type(TaskLog)[0].success_level = logging.DEBUG

    @app.task
    def quiet() -> None:
        return None

    caplog.set_level(logging.INFO, logger="qtasks.tasks")
    quiet.add_task()
    drain(app)
    assert task_records(caplog) == []


def test_retries_warn_and_the_last_failure_is_an_error_with_its_traceback(
    app: QueueTasks, caplog: pytest.LogCaptureFixture
) -> None:
    @app.task(retry=2)
    def flaky() -> None:
        raise ValueError("the disk is full")

    caplog.set_level(logging.INFO, logger="qtasks.tasks")
    flaky.add_task()
    for _ in range(3):
        drain(app)
    first, second, last = task_records(caplog)
    assert first.levelno == second.levelno == logging.WARNING
    assert "retry 1 of 2 in 0.0s as " in first.getMessage()
    assert first.getMessage().endswith("ValueError: the disk is full")
    assert first.retry == 1 and second.retry == 2  # type: ignore[attr-defined]
    assert first.retry_id == second.task_id  # type: ignore[attr-defined]
    assert last.levelno == logging.ERROR
    assert "failed in " in last.getMessage()
    assert "Traceback (most recent call last)" in last.getMessage()
    assert 'raise ValueError("the disk is full")' in last.getMessage()
    assert last.status == "error"  # type: ignore[attr-defined]


def test_a_time_out_is_an_error_naming_the_limit(
    app: QueueTasks, caplog: pytest.LogCaptureFixture
) -> None:
    @app.task(max_time=0.05)
    async def slow() -> None:
        await asyncio.sleep(5)

    caplog.set_level(logging.INFO, logger="qtasks.tasks")
    task = slow.add_task()
    drain(app)
    (record,) = task_records(caplog)
    assert record.levelno == logging.ERROR
    assert record.getMessage() == f"task slow[{task.uuid}] timed out after 0.05s"  # type: ignore[union-attr]


def test_a_cancelled_run_warns_with_the_reason(
    app: QueueTasks, caplog: pytest.LogCaptureFixture
) -> None:
    started = threading.Event()

    @app.task
    async def long() -> None:
        started.set()
        await asyncio.sleep(30)

    caplog.set_level(logging.INFO, logger="qtasks.tasks")
    with worker_thread(app):
        task = long.add_task()
        assert started.wait(10)
        app.cancel(task.uuid, reason="the user gave up")  # type: ignore[union-attr]
        final = app.wait_result(task.uuid, timeout=10)  # type: ignore[union-attr]
    assert final is not None and final.status == "cancel"
    (record,) = task_records(caplog)
    assert record.levelno == logging.WARNING
    assert record.getMessage().endswith(": the user gave up")
    assert " cancelled after " in record.getMessage()


def test_a_dead_workers_task_is_a_warning_naming_that_worker(
    app: QueueTasks, caplog: pytest.LogCaptureFixture
) -> None:
    @app.task
    def survivor() -> None:
        return None

    task = survivor.add_task()

    async def claim_and_die() -> None:
        broker = app._client.new_broker()
        await broker.connect()
        try:
            await broker.claim(("default",), 1, lease=0.05, worker_id="host:1:dead", wait=1.0)
        finally:
            await broker.close()
        await asyncio.sleep(0.1)

    asyncio.run(claim_and_die())
    caplog.set_level(logging.INFO, logger="qtasks.tasks")
    drain(app)
    recovered, done = task_records(caplog)
    assert recovered.levelno == logging.WARNING
    assert recovered.getMessage() == (
        f"task survivor[{task.uuid}] recovered from worker host:1:dead, "  # type: ignore[union-attr]
        "which stopped while running it (attempt 2)"
    )
    assert recovered.lost_worker_id == "host:1:dead"  # type: ignore[attr-defined]
    assert done.attempt == 2  # type: ignore[attr-defined]


def test_json_lines_carry_the_task_fields() -> None:
    stream = io.StringIO()
    configure(logging.INFO, "json", stream)
    try:
        app = QueueTasks(name="jsonlogs", broker_url="memory://json-logs")

        @app.task
        def boom() -> None:
            raise KeyError("missing")

        task = boom.add_task()
        drain(app)
        app.close()
    finally:
        logging.basicConfig(handlers=[logging.NullHandler()], force=True)
        logging.getLogger().setLevel(logging.WARNING)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    (failure,) = [line for line in lines if line["logger"] == "qtasks.tasks"]
    assert failure["level"] == "ERROR"
    assert (
        failure["message"]
        == f"task boom[{task.uuid}] failed in {failure['message'].split(' in ')[1]}"
    )  # type: ignore[union-attr]
    assert failure["message"].endswith("KeyError: 'missing'")
    assert "\n" not in failure["message"]  # the traceback has a key of its own
    assert "Traceback (most recent call last)" in failure["traceback"]
    assert failure["task_id"] == str(task.uuid)  # type: ignore[union-attr]
    assert (failure["task_name"], failure["queue"], failure["attempt"]) == ("boom", "default", 1)
    assert failure["status"] == "error" and failure["duration_ms"] >= 0
    assert time.strptime(failure["time"][:19], "%Y-%m-%dT%H:%M:%S")


def test_an_exception_logged_elsewhere_gets_a_traceback_key() -> None:
    try:
        raise OSError("socket closed")
    except OSError:
        record = logging.LogRecord(
            "qtasks.worker", logging.ERROR, __file__, 1, "lost it", (), exc_info=True
        )
        import sys

        record.exc_info = sys.exc_info()
    data = json.loads(JsonFormatter().format(record))
    assert data["message"] == "lost it" and "OSError: socket closed" in data["traceback"]


def test_configure_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="log format 'xml': expected one of rich, plain, json"):
        configure(logging.INFO, "xml")
