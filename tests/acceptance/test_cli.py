"""A worker started from the command line, exactly as a user would, runs tasks."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest

from qtasks import QueueTasks

from .conftest import HERE, Workers
from .procapp import UNICODE_NAME


@pytest.mark.parametrize("launcher", ["python -m qtasks", "qtasks script"])
def test_cli_worker_runs_tasks(launcher: str, workers: Workers, client: QueueTasks) -> None:
    if launcher == "python -m qtasks":
        # cwd elsewhere, the app found through PYTHONPATH
        worker = workers.start()
    else:
        # the console script run from the project folder, no PYTHONPATH: the CLI adds the cwd
        worker = workers.start(script=True, cwd=HERE, pythonpath=False)

    done = client.tasks["add"].add_task(2, 3, timeout=30)
    assert done is not None, "no result within 30s"
    assert done.status == "success", done.traceback
    assert done.returning == 5
    assert done.attempt == 1
    assert done.worker_id is not None and f":{worker.pid}:" in done.worker_id

    # a name with ':' and non-ASCII, sent by name through the app
    report = client.add_task(UNICODE_NAME, "2024-01-31", timeout=30)
    assert report is not None
    assert report.status == "success", report.traceback
    assert report.task_name == UNICODE_NAME
    assert report.returning == {"day": "2024-01-31", "title": "Rapport quotidien — é"}
    assert client.get(report.uuid).task_name == UNICODE_NAME

    assert worker.alive()
    worker.send(signal.SIGTERM)
    assert worker.wait_exit(30) == 0


def test_burst_worker_drains_the_queue_and_exits(workers: Workers, client: QueueTasks) -> None:
    records = client.tasks["add"].add_tasks([(i, 1) for i in range(20)])
    worker = workers.start("--burst", "--concurrency", "4")
    assert worker.wait_exit(60) == 0
    for i, record in enumerate(records):
        done = client.get(record.uuid)
        assert done is not None and done.status == "success" and done.returning == i + 1
    assert client.count() == {"success": 20}


def test_status_command_counts_tasks(workers: Workers, client: QueueTasks) -> None:
    client.tasks["add"].add_tasks([(1, 1), (2, 2), (3, 3)])
    result = subprocess.run(
        [sys.executable, "-m", "qtasks", "-A", "procapp:app", "status"],
        cwd=workers.tmp_path,
        env=workers.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    counts = dict(re.findall(r"^\s*(\w+): (\d+)\s*$", result.stdout, re.MULTILINE))
    assert counts["new"] == "3", result.stdout
    assert counts["success"] == "0"


def _cli(workers: Workers, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qtasks", "-A", "procapp:app", *args],
        cwd=workers.tmp_path,
        env=workers.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_dead_letter_commands_list_show_requeue_purge(workers: Workers, client: QueueTasks) -> None:
    unknown = [client.add_task("not.deployed", i) for i in range(2)]
    failed = client.add_task("fail.system_exit")
    assert workers.start("--burst").wait_exit(60) == 0

    listed = _cli(workers, "dead", "list")
    assert listed.returncode == 0, listed.stderr
    for task in (*unknown, failed):
        assert task is not None and str(task.uuid) in listed.stdout
    assert "TaskNotFoundError" in listed.stdout and "3 dead letter(s)" in listed.stdout

    shown = _cli(workers, "dead", "show", str(failed.uuid))
    assert (
        shown.returncode == 0
        and "SystemExit" in shown.stdout
        and "fail.system_exit" in shown.stdout
    )

    refused = _cli(workers, "dead", "purge")
    assert refused.returncode == 2 and "--all" in refused.stderr  # nothing named: nothing done

    requeued = _cli(workers, "dead", "requeue", "--task", "not.deployed")
    assert requeued.returncode == 0 and "requeued 2" in requeued.stdout
    assert client.get(unknown[0].uuid).status == "new"

    purged = _cli(workers, "dead", "purge", "--all")
    assert purged.returncode == 0 and "purged 1" in purged.stdout
    assert client.get(failed.uuid) is None


def test_cancel_command(workers: Workers, client: QueueTasks) -> None:
    waiting = client.tasks["add"].add_task(1, 2)
    assert waiting is not None
    result = _cli(workers, "cancel", str(waiting.uuid), "--reason", "not today")
    assert result.returncode == 0 and "cancelled" in result.stdout
    record = client.get(waiting.uuid)
    assert record.status == "cancel" and record.cancel_reason == "not today"
    again = _cli(workers, "cancel", str(waiting.uuid))
    assert "finished" in again.stdout
    unknown = _cli(workers, "cancel", "0190a8e8-0000-7000-8000-000000000000")
    assert unknown.returncode == 1 and "unknown" in unknown.stdout


def test_names_that_look_like_markup_are_printed_as_they_are(
    workers: Workers, client: QueueTasks
) -> None:
    """Rich markup in a task, queue or app name (``x[/]y``) is user data: printed plainly."""
    unknown = client.add_task("x[/]y[bold]z")
    assert unknown is not None
    assert workers.start("--burst").wait_exit(60) == 0
    listed = _cli(workers, "dead", "list")
    assert listed.returncode == 0, listed.stderr
    assert "x[/]y[bold]z" in listed.stdout and "1 dead letter(s)" in listed.stdout

    env = {"PROCAPP_NAME": "shop[/][red]"}
    marked = workers.start("--burst", env=env)
    assert marked.wait_exit(60) == 0, marked.log()
    assert "worker for shop[/][red] on" in " ".join(marked.log().split())


def test_migrate_against_an_unreachable_broker_fails(workers: Workers) -> None:
    for url in ("redis://127.0.0.1:1/0", "postgresql://postgres@127.0.0.1:1/nothing"):
        done = subprocess.run(
            [sys.executable, "-m", "qtasks", "-A", "procapp:app", "migrate"],
            cwd=workers.tmp_path,
            env=workers.env({"QTASKS_BROKER_URL": url}),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert "BrokerError" in done.stderr and "up to date" not in done.stdout
