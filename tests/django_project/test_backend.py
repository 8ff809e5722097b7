"""QTasksBackend end to end: Django's @task and .enqueue() in this process, tasks run by
``manage.py qtasks_worker`` processes, results read back with ``get_result``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from qtasks.contrib.django import compat
from qtasks.contrib.django.backend import QTasksBackend
from tests.django_project.djapps.shop import tasks
from tests.django_project.djapps.shop.apps import SIGNAL_LOG

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = "tests.django_project.settings"


class Worker:
    """A ``manage.py qtasks_worker`` process."""

    def __init__(self, log: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log_path = log
        full_env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            **(env or {}),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "django", "qtasks_worker", *args],
            env=full_env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Worker:
        worker = Worker(tmp_path / f"worker-{len(started)}.log", *args, env=env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()


def final(result: Any, timeout: float = 30.0) -> Any:
    """Refresh until the result is finished (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        result.refresh()
        if result.is_finished:
            return result
        assert time.monotonic() < deadline, f"{result.id} still {result.status}"
        time.sleep(0.05)


def test_enqueue_returns_ready_result_readable_anywhere() -> None:
    result = tasks.add.enqueue(1, 2)
    assert result.status == compat.TaskResultStatus.READY
    assert result.enqueued_at is not None and result.backend == "default"
    assert len(result.id) <= 64
    again = tasks.add.get_result(result.id)
    assert again.status == compat.TaskResultStatus.READY and again.args == [1, 2]
    assert again.task.func is tasks.add.func
    with pytest.raises(compat.TaskResultDoesNotExist):
        tasks.add.get_result("no-such-id")


def test_arguments_follow_django_json_rules() -> None:
    result = tasks.add.enqueue((1, 2), b=b"x")  # tuples become lists, bytes become str
    assert result.args == [[1, 2]] and result.kwargs == {"b": "x"}
    with pytest.raises(TypeError):
        tasks.add.enqueue(object(), 1)


def test_unknown_queue_fails_at_enqueue() -> None:
    with pytest.raises(compat.InvalidTaskError):
        tasks.add.using(queue_name="nowhere")


def test_worker_runs_tasks_and_results_are_complete(start_worker: Callable[..., Worker]) -> None:
    ok = tasks.add.enqueue(2, 3)
    mail = tasks.send_mail.enqueue("a@b.c")
    failing = tasks.fails.enqueue()
    not_json = tasks.returns_object.enqueue()
    coroutine = tasks.aadd.enqueue(4, 5)
    context = tasks.with_context.enqueue(7)
    worker = start_worker()
    try:
        ok = final(ok)
        assert ok.status == compat.TaskResultStatus.SUCCESSFUL and ok.return_value == 5
        assert ok.started_at and ok.finished_at and ok.last_attempted_at and ok.enqueued_at
        assert ok.enqueued_at <= ok.started_at <= ok.finished_at
        assert len(ok.worker_ids) == 1 and ok.attempts == 1
        assert final(mail).return_value == "sent to a@b.c"
        failing = final(failing)
        assert failing.status == compat.TaskResultStatus.FAILED
        assert [e.exception_class_path for e in failing.errors] == ["builtins.ValueError"]
        assert "boom" in failing.errors[0].traceback
        with pytest.raises(ValueError):
            failing.return_value  # noqa: B018 - Django raises for a failed task
        not_json = final(not_json)
        assert not_json.status == compat.TaskResultStatus.FAILED
        assert not_json.errors[0].exception_class_path == "builtins.TypeError"
        assert final(coroutine).return_value == 9
        context = final(context)
        assert context.return_value == {
            "attempt": 1,
            "id": context.id,
            "workers": context.worker_ids,
            "x": 7,
        }
    finally:
        assert worker.stop() == 0, worker.log()


def test_priority_then_fifo_and_run_after(
    tmp_path: Path, start_worker: Callable[..., Worker]
) -> None:
    out = tmp_path / "order.txt"
    later = tasks.record_order.using(run_after=datetime.now(UTC) + timedelta(seconds=1)).enqueue(
        str(out), "later"
    )
    for label, priority in [("low", -10), ("mid-1", 0), ("high", 50), ("mid-2", 0)]:
        tasks.record_order.using(priority=priority).enqueue(str(out), label)
    worker = start_worker("--concurrency", "1")
    try:
        later = final(later)
        assert later.started_at is not None and later.task.run_after is not None
        assert later.started_at >= later.task.run_after - timedelta(milliseconds=50)
        assert out.read_text().split() == ["high", "mid-1", "mid-2", "low", "later"]
    finally:
        worker.stop()


def test_lifecycle_signals_in_both_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_worker: Callable[..., Worker]
) -> None:
    log = tmp_path / "signals.jsonl"
    monkeypatch.setenv(SIGNAL_LOG, str(log))
    ok, bad = tasks.add.enqueue(1, 1), tasks.fails.enqueue()
    worker = start_worker(env={SIGNAL_LOG: str(log)})
    try:
        final(ok), final(bad)
    finally:
        worker.stop()
    events = [json.loads(line) for line in log.read_text().splitlines()]
    by_task = {
        task_id: [(e["event"], e["status"]) for e in events if e["id"] == task_id]
        for task_id in (ok.id, bad.id)
    }
    assert by_task[ok.id] == [
        ("enqueued", "READY"),
        ("started", "RUNNING"),
        ("finished", "SUCCESSFUL"),
    ]
    assert by_task[bad.id] == [
        ("enqueued", "READY"),
        ("started", "RUNNING"),
        ("finished", "FAILED"),
    ]
    assert {e["pid"] for e in events if e["event"] != "enqueued"} == {worker.process.pid}


@pytest.mark.django_db(transaction=True)
def test_enqueue_on_commit() -> None:
    with transaction.atomic():
        sent = tasks.add.enqueue(1, 2)
        with pytest.raises(compat.TaskResultDoesNotExist):
            tasks.add.get_result(sent.id)  # not sent before the commit
    assert tasks.add.get_result(sent.id).status == compat.TaskResultStatus.READY
    with pytest.raises(RuntimeError), transaction.atomic():
        dropped = tasks.add.enqueue(3, 4)
        raise RuntimeError("roll back")
    with pytest.raises(compat.TaskResultDoesNotExist):
        tasks.add.get_result(dropped.id)


def test_retries_with_backoff_and_time_limit(
    tmp_path: Path, start_worker: Callable[..., Worker]
) -> None:
    flaky = tasks.flaky.enqueue(str(tmp_path / "count"))
    slow = tasks.too_slow.enqueue()
    worker = start_worker("--backend", "retrying")
    try:
        flaky = final(flaky)
        assert flaky.status == compat.TaskResultStatus.SUCCESSFUL and flaky.return_value == 3
        assert flaky.attempts == 3 and len(flaky.errors) == 2
        assert {e.exception_class_path for e in flaky.errors} == {
            "tests.django_project.djapps.shop.tasks.Flaky"
        }
        slow = final(slow)
        assert slow.status == compat.TaskResultStatus.FAILED
        assert slow.errors[-1].exception_class_path == "qtasks.core.errors.TaskTimeoutError"
    finally:
        worker.stop()


def test_killed_worker_task_finishes_on_next_worker(
    tmp_path: Path, start_worker: Callable[..., Worker]
) -> None:
    marker = tmp_path / "started"
    result = tasks.slow.enqueue(str(marker), 2.0)
    lease = {"QTASKS_DJANGO_TEST_LEASE": "1.5"}
    first = start_worker(env=lease)
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline, first.log()
        time.sleep(0.05)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    second = start_worker(env=lease)
    try:
        result = final(result, timeout=60)
        assert result.status == compat.TaskResultStatus.SUCCESSFUL
        assert result.attempts == 2 and len(set(result.worker_ids)) == 2
    finally:
        second.stop()


def test_checks_report_bad_options_and_unreachable_broker(tmp_path: Path) -> None:
    bad = QTasksBackend("bad", {"OPTIONS": {"brokr_url": "x"}})
    assert [m.id for m in bad.check()] == ["qtasks.E001"]
    missing = QTasksBackend(
        "missing", {"OPTIONS": {"broker_url": f"sqlite:///{tmp_path}/no/such/dir/q.db"}}
    )
    # The ping is a deployment check (check --deploy), not part of every command's checks.
    assert list(missing.check()) == []
    assert [m.id for m in missing.check_broker()] == ["qtasks.E003"]
    good = compat.task_backends()["default"]
    assert list(good.check()) == []


def test_each_alias_is_its_own_namespace(start_worker: Callable[..., Worker]) -> None:
    """Two aliases on one broker: a worker of one never takes the other's tasks."""
    on_default = tasks.add.enqueue(1, 1)
    on_retrying = tasks.add.using(backend="retrying").enqueue(2, 2)
    worker = start_worker("--backend", "retrying")
    try:
        assert final(on_retrying).return_value == 4
        time.sleep(0.5)  # the worker is idle now: it had every chance to take the other
        on_default.refresh()
        assert on_default.status == compat.TaskResultStatus.READY
        with pytest.raises(compat.TaskResultDoesNotExist):  # not readable across aliases
            tasks.add.get_result(on_retrying.id)
    finally:
        worker.stop()
    other = start_worker()  # the default alias' worker
    try:
        assert final(on_default).return_value == 2
    finally:
        other.stop()


def test_signals_on_retries_and_time_limit_in_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_worker: Callable[..., Worker]
) -> None:
    """Each attempt sends started/finished; a run past max_time sends FAILED when the limit
    expires (the result is final only after the signal: the hook sends it first)."""
    log = tmp_path / "signals.jsonl"
    monkeypatch.setenv(SIGNAL_LOG, str(log))
    flaky = tasks.flaky.enqueue(str(tmp_path / "count"))
    slow = tasks.too_slow.enqueue()  # sleeps 10 s; the backend's max_time is 1 s
    worker = start_worker("--backend", "retrying", env={SIGNAL_LOG: str(log)})
    try:
        final(flaky), final(slow)
        events = [json.loads(line) for line in log.read_text().splitlines()]
    finally:
        worker.stop()

    def of(task_id: str) -> list[tuple[str, str]]:
        return [(e["event"], e["status"]) for e in events if e["id"] == task_id]

    assert of(flaky.id) == [
        ("enqueued", "READY"),
        *[("started", "RUNNING"), ("finished", "FAILED")] * 2,
        ("started", "RUNNING"),
        ("finished", "SUCCESSFUL"),
    ]
    assert of(slow.id) == [("enqueued", "READY"), ("started", "RUNNING"), ("finished", "FAILED")]


@pytest.mark.django_db(transaction=True)
def test_signal_receivers_may_use_the_orm_and_see_the_error(tmp_path: Path) -> None:
    """Receivers run off the worker's event loop (the ORM works there), get the same
    TaskResult the task's context holds, and see TaskTimeoutError for a run past max_time."""
    from django.contrib.contenttypes.models import ContentType

    from qtasks.testing import drain

    seen: dict[str, list[Any]] = {}

    def receiver(sender: Any, task_result: Any, **kwargs: Any) -> None:
        ContentType.objects.count()  # raises SynchronousOnlyOperation on an event loop
        seen.setdefault(task_result.id, []).append(
            (task_result.status, [e.exception_class_path for e in task_result.errors])
        )

    compat.task_started.connect(receiver, weak=False)
    compat.task_finished.connect(receiver, weak=False)
    try:
        retrying = compat.task_backends()["retrying"]
        timed_out = tasks.slow.using(backend="retrying").enqueue(str(tmp_path / "m"), 1.5)
        coroutine = tasks.aadd.using(backend="retrying").enqueue(1, 2)
        context = tasks.with_context.using(backend="retrying").enqueue(3)
        drain(retrying.app, queues=["default"])
    finally:
        compat.task_started.disconnect(receiver)
        compat.task_finished.disconnect(receiver)
    running, ok, failed = (
        compat.TaskResultStatus.RUNNING,
        compat.TaskResultStatus.SUCCESSFUL,
        compat.TaskResultStatus.FAILED,
    )
    assert seen[timed_out.id] == [
        (running, []),
        (failed, ["qtasks.core.errors.TaskTimeoutError"]),
    ]
    assert seen[coroutine.id] == [(running, []), (ok, [])]
    assert seen[context.id] == [(running, []), (ok, [])]
    stored = tasks.with_context.using(backend="retrying").get_result(context.id)
    assert stored.return_value["id"] == context.id and stored.return_value["attempt"] == 1


@pytest.mark.django_db(transaction=True)
def test_signals_of_a_def_task_are_sent_by_its_own_thread() -> None:
    """With no hook inside the signals hook (no max_time), a ``def`` task's thread sends
    both signals around the function: off the loop (the ORM works), with the result its
    context sees, the error of a failed run, and the same thread for both signals; a
    ``task_started`` receiver that raises fails the run without ``task_finished``."""
    import threading

    from django.contrib.contenttypes.models import ContentType

    from qtasks.testing import drain

    seen: dict[str, list[Any]] = {}
    refuse: set[str] = set()

    def receiver(sender: Any, task_result: Any, **kwargs: Any) -> None:
        ContentType.objects.count()  # raises SynchronousOnlyOperation on an event loop
        errors = [e.exception_class_path for e in task_result.errors]
        seen.setdefault(task_result.id, []).append(
            (task_result.status, errors, threading.get_ident())
        )
        if task_result.id in refuse and task_result.status == compat.TaskResultStatus.RUNNING:
            raise RuntimeError("refused")

    compat.task_started.connect(receiver, weak=False)
    compat.task_finished.connect(receiver, weak=False)
    try:
        backend = compat.task_backends()["default"]
        ok = tasks.with_context.enqueue(5)
        failing = tasks.fails.enqueue()
        refused = tasks.add.enqueue(1, 2)
        refuse.add(refused.id)
        drain(backend.app, queues=["default"])
    finally:
        compat.task_started.disconnect(receiver)
        compat.task_finished.disconnect(receiver)
    running, successful, failed = (
        compat.TaskResultStatus.RUNNING,
        compat.TaskResultStatus.SUCCESSFUL,
        compat.TaskResultStatus.FAILED,
    )
    assert [(status, errors) for status, errors, _ in seen[ok.id]] == [
        (running, []),
        (successful, []),
    ]
    assert [(status, errors) for status, errors, _ in seen[failing.id]] == [
        (running, []),
        (failed, ["builtins.ValueError"]),
    ]
    for task_id in (ok.id, failing.id):
        started_on, finished_on = (thread for _, _, thread in seen[task_id])
        assert started_on == finished_on != threading.get_ident()
    assert [status for status, _, _ in seen[refused.id]] == [running]
    stored = tasks.with_context.get_result(ok.id)
    assert stored.return_value["id"] == ok.id and stored.return_value["x"] == 5
    assert tasks.fails.get_result(failing.id).status == failed
    refused_result = tasks.add.get_result(refused.id)
    assert refused_result.status == failed
    assert [e.exception_class_path for e in refused_result.errors] == [
        "qtasks.core.errors.HookError"
    ]


def test_a_message_naming_a_module_outside_installed_apps_imports_nothing() -> None:
    """Importing a module runs its top-level code: a worker imports only modules of
    INSTALLED_APPS (or OPTIONS["task_modules"]), whatever a message names."""
    from qtasks.contrib.django.execution import BACKEND_HEADER
    from qtasks.core.envelope import Envelope
    from qtasks.core.ids import new_task_id
    from qtasks.testing import drain

    app = compat.task_backends()["default"].app
    outsider = "tests.django_project.djapps.outsider.tasks"  # not in INSTALLED_APPS
    now = time.time()
    sent = [
        Envelope(
            id=new_task_id(),
            task_name=name,
            queue="default",
            created_at=now,
            eta=now,
            headers={BACKEND_HEADER: "default"},
        )
        for name in (f"{outsider}.anything", "os.system", "subprocess.run")
    ]
    app._sync(app._client.enqueue(sent))
    assert drain(app) >= len(sent)
    for envelope in sent:
        record = app.get(envelope.id)
        assert record is not None and record.status == "error"
        assert "not in an installed application" in (record.traceback or "")
    assert outsider not in sys.modules
    assert "tests.django_project.djapps.outsider" not in sys.modules


def test_the_worker_command_never_prints_a_password(start_worker: Callable[..., Worker]) -> None:
    """Neither a broker URL's password nor, with ``django://``, the DATABASES password
    (which was never in a URL the user wrote) appears in ``qtasks_worker``'s output."""
    secret = "dj-s3cret-pw"
    url = f"postgresql://postgres:{secret}@127.0.0.1:5432/qtasks_test?schema=djsecret"
    for args, env in (
        (("--backend", "default"), {"QTASKS_DJANGO_TEST_BROKER": url}),
        (("--backend", "indb"), {"QTASKS_DJANGO_TEST_DB_PASSWORD": secret}),
    ):
        worker = start_worker(*args, "--burst", env=env)
        assert worker.process.wait(timeout=60) == 0, worker.log()
        assert "qtasks worker for TASKS" in worker.log()
        assert secret not in worker.log(), worker.log()
