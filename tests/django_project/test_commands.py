"""``manage.py qtasks_status``, ``qtasks_dead`` and ``qtasks_cancel`` (Django result ids or
qtasks uuids, ``--backend``), and ``qtasks.E003``: a broker that is down fails only
``check --deploy``, never ``migrate``, ``showmigrations`` or ``runserver``."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from qtasks.contrib.django import compat
from qtasks.core.ids import new_task_id
from qtasks.monitor import Monitor
from qtasks.testing import drain
from tests.django_project.djapps.shop import tasks
from tests.django_project.test_backend import ROOT, SETTINGS, Worker, final, start_worker  # noqa: F401

#: A broker URL nothing listens on.
CLOSED = "redis://127.0.0.1:1/0"


def app_of(alias: str) -> Any:
    return compat.task_backends()[alias].app


@pytest.fixture(autouse=True)
def empty_brokers() -> None:
    for alias in ("default", "retrying"):
        app_of(alias).flush_all()


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def manage(
    *args: str, broker: str = CLOSED, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        env=_env(broker),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _env(broker: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "QTASKS_DJANGO_TEST_BROKER": broker,  # TASKS["default"] and TASKS["retrying"]
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",
    }


# qtasks.E003 --------------------------------------------------------------------------


def test_a_broker_that_is_down_fails_only_check_deploy() -> None:
    for command in (["migrate"], ["showmigrations"], ["check"]):
        done = manage(*command)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        assert "qtasks.E003" not in done.stdout + done.stderr, command
        if command == ["showmigrations"]:
            assert "0001_initial" in done.stdout
    deploy = manage("check", "--deploy")
    assert deploy.returncode == 1, deploy.stdout + deploy.stderr
    assert f"qtasks.E003) TASKS['default']: the broker at {CLOSED} does not answer" in deploy.stderr
    only_qtasks = manage("check", "--deploy", "--tag", "qtasks")
    assert only_qtasks.returncode == 1 and "qtasks.E003" in only_qtasks.stderr


def test_runserver_starts_while_the_broker_is_down(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "runserver.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "django", "runserver", "--noreload", f"127.0.0.1:{port}"],
        env=_env(CLOSED),
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while "Quit the server with" not in log.read_text():
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass  # it listens
    finally:
        server.terminate()
        server.wait(30)
    assert "qtasks.E003" not in log.read_text()


def test_the_worker_still_reports_a_dead_broker_in_one_line(tmp_path: Path) -> None:
    done = manage("qtasks_worker")
    assert done.returncode == 1
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 2, lines  # the banner, the reason (no system-check report)
    assert lines[1].startswith(
        f"CommandError: BrokerError: cannot connect to the broker at {CLOSED}"
    )


# qtasks_status ------------------------------------------------------------------------


def test_status_prints_the_monitor_screen_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    ok, bad = tasks.add.enqueue(1, 2), tasks.fails.enqueue()
    assert drain(app_of("default"), queues=["default"]) == 2
    screen = run("qtasks_status")
    assert "qtasks django:default on sqlite://" in screen
    assert "success 1   error 1" in screen
    assert "queues" in screen and "workers" in screen and "stopped" in screen
    assert "recent failures" in screen and bad.id in screen and ok.id not in screen
    snapshot = json.loads(run("qtasks_status", "--json"))
    assert snapshot["counts"]["success"] == 1 and snapshot["counts"]["error"] == 1
    default = next(q for q in snapshot["queues"] if q["queue"] == "default")
    assert default["totals"]["succeeded"] == 1 and default["totals"]["failed"] == 1
    assert [f["uuid"] for f in snapshot["failures"]] == [bad.id]
    call_command("qtasks_status", "--watch", "--count", "2", "--interval", "0.1")
    assert "qtasks django:default on sqlite://" in capsys.readouterr().out
    with pytest.raises(CommandError, match="pick one"):
        run("qtasks_status", "--watch", "--json")
    with pytest.raises(CommandError, match=r"no QTasksBackend TASKS\['nosuch'\]"):
        run("qtasks_status", "--backend", "nosuch")
    retrying = json.loads(run("qtasks_status", "--backend", "retrying", "--json"))
    assert retrying["counts"].get("success", 0) == 0  # another namespace


def test_status_with_the_broker_down_is_one_line() -> None:
    done = manage("qtasks_status")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        line for line in done.stderr.strip().splitlines() if line.startswith("CommandError: ")
    ]
    assert done.stderr.startswith("CommandError: BrokerError: ") and "Traceback" not in done.stderr


# qtasks_dead --------------------------------------------------------------------------


def test_dead_letters_by_django_id_after_retries(
    tmp_path: Path,
    start_worker: Callable[..., Worker],  # noqa: F811
) -> None:
    counter = tmp_path / "count"
    counter.write_text("-10")  # flaky succeeds from count 3 on: never, here
    result = tasks.flaky.enqueue(str(counter))
    worker = start_worker("--backend", "retrying")
    try:
        result = final(result)
    finally:
        assert worker.stop() == 0, worker.log()
    assert result.status == compat.TaskResultStatus.FAILED
    app = app_of("retrying")

    def last_attempt() -> str:
        detail = Monitor(app).task(result.id)
        assert detail is not None
        return str(detail.chain[-1].uuid)

    last = last_attempt()
    assert last != result.id
    on_retrying = ("--backend", "retrying")

    listing = run("qtasks_dead", "list", *on_retrying)
    assert result.id in listing and last in listing and "1 dead letter(s)" in listing
    rows = json.loads(run("qtasks_dead", "list", *on_retrying, "--json"))
    assert [(r["django_id"], r["uuid"]) for r in rows] == [(result.id, last)]
    assert "0 dead letter(s)" in run("qtasks_dead", "list")  # the default backend's

    for ident in (result.id, last):
        shown = run("qtasks_dead", "show", ident, *on_retrying)
        assert shown.startswith(f"Django result id: {result.id}\n")
        assert last in shown and "retry chain" in shown and "Flaky: attempt -7" in shown
    with pytest.raises(CommandError, match="no dead letter"):
        run("qtasks_dead", "show", new_task_id(), *on_retrying)
    with pytest.raises(CommandError, match="is not a task id"):
        run("qtasks_dead", "show", "nope", *on_retrying)

    with pytest.raises(CommandError, match=r"ID\.\.\., --task NAME, or --all"):
        run("qtasks_dead", "requeue", *on_retrying)
    with pytest.raises(CommandError, match="give it alone"):
        run("qtasks_dead", "purge", "--all", result.id, *on_retrying)
    with pytest.raises(CommandError, match="no task"):
        run("qtasks_dead", "purge", new_task_id(), *on_retrying)
    assert [str(t.uuid) for t in app.dead_letters()] == [last]

    assert run("qtasks_dead", "requeue", result.id, *on_retrying) == "requeued 1 dead letter(s)\n"
    assert app.get(last).status == "new"  # the same uuid, back in its queue, attempts from 0
    # it runs once more and fails again (a requeued dead letter has no retries left)
    worker = start_worker("--backend", "retrying")
    try:
        again = final(tasks.flaky.get_result(result.id))
    finally:
        assert worker.stop() == 0, worker.log()
    assert again.status == compat.TaskResultStatus.FAILED and len(again.errors) == 3
    assert counter.read_text() == "-6" and "Flaky: attempt -6" in again.errors[-1].traceback
    assert [str(t.uuid) for t in app.dead_letters()] == [last]
    assert run("qtasks_dead", "purge", result.id, *on_retrying) == "purged 1 dead letter(s)\n"
    assert app.dead_letters() == [] and app.get(last) is None


# qtasks_cancel ------------------------------------------------------------------------


def test_cancel_by_django_id() -> None:
    later = tasks.add.using(run_after=datetime.now(UTC) + timedelta(hours=1)).enqueue(1, 2)
    assert run("qtasks_cancel", later.id, "--reason", "not needed") == f"{later.id}: cancelled\n"
    record = app_of("default").get(later.id)
    assert record.status == "cancel" and record.cancel_reason == "not needed"
    assert tasks.add.get_result(later.id).status == compat.TaskResultStatus.FAILED
    assert run("qtasks_cancel", later.id) == f"{later.id}: finished\n"  # nothing left to do
    with pytest.raises(CommandError, match="no task"):
        run("qtasks_cancel", new_task_id())
    with pytest.raises(CommandError, match="is not a task id"):
        run("qtasks_cancel", "42")
    with pytest.raises(CommandError, match="no task"):  # another backend's namespace
        run("qtasks_cancel", later.id, "--backend", "retrying")
