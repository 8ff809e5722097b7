"""What a worker started from the command line tells its operator: a log line per task
(JSON with ``--log-format json``), ``--quiet-success``, Prometheus metrics with
``--metrics-port``, and ``stats inspect``; on every transport."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from qtasks import QueueTasks

from .conftest import HERE, Workers, wait_until

pytestmark = pytest.mark.parametrize("db_url", ["sqlite", "redis", "postgres"], indirect=True)


def json_lines(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_logs_give_one_object_per_task_event(workers: Workers, client: QueueTasks) -> None:
    ok = client.tasks["add"].add_task(2, 3)
    bad = client.add_task("fail.text", "the disk is full")
    worker = workers.start("--burst", group_args=("--log-format", "json"))
    assert worker.wait_exit(60) == 0, worker.log()
    lines = json_lines(worker.log())
    assert lines, worker.log()
    by_task = {line.get("task_id"): line for line in lines if line["logger"] == "qtasks.tasks"}
    success = by_task[str(ok.uuid)]  # type: ignore[union-attr]
    assert success["level"] == "INFO" and success["status"] == "success"
    assert success["message"].startswith(f"task add[{ok.uuid}] succeeded in ")  # type: ignore[union-attr]
    assert (success["task_name"], success["queue"], success["attempt"]) == ("add", "default", 1)
    assert success["duration_ms"] >= 0 and f":{worker.pid}:" in success["worker_id"]
    failure = by_task[str(bad.uuid)]  # type: ignore[union-attr]
    assert failure["level"] == "ERROR" and failure["status"] == "error"
    assert "the disk is full" in failure["message"] and "\n" not in failure["message"]
    assert "Traceback (most recent call last)" in failure["traceback"]
    assert any("listening on" in line["message"] for line in lines)  # the worker's own lines


def test_quiet_success_keeps_failures(workers: Workers, client: QueueTasks) -> None:
    client.tasks["add"].add_tasks([(i, 1) for i in range(5)])
    bad = client.add_task("fail.text", "still loud")
    worker = workers.start("--burst", "--quiet-success", group_args=("--log-format", "json"))
    assert worker.wait_exit(60) == 0, worker.log()
    task_lines = [line for line in json_lines(worker.log()) if line["logger"] == "qtasks.tasks"]
    assert [line["task_id"] for line in task_lines] == [str(bad.uuid)]  # type: ignore[union-attr]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metrics_port_serves_the_workers_counts(workers: Workers, client: QueueTasks) -> None:
    port = free_port()
    worker = workers.start("--metrics-port", str(port))
    worker.wait_ready()
    client.tasks["add"].add_tasks([(i, i) for i in range(4)])

    def successes() -> float:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "qtasks_tasks_total" and sample.labels == {
                    "app": client.name,
                    "queue": "default",
                    "task": "add",
                    "status": "success",
                }:
                    return sample.value
        return 0.0

    assert wait_until(lambda: successes() == 4, timeout=30, what="4 successes in /metrics")
    worker.send(signal.SIGTERM)
    assert worker.wait_exit(30) == 0


def test_stats_inspect_describes_the_app(workers: Workers, client: QueueTasks) -> None:
    env = workers.env()
    command = [sys.executable, "-m", "qtasks", "-A", "procapp:app", "stats", "inspect"]
    app_info = subprocess.run(
        [*command, "app", "json=true"], env=env, cwd=HERE, capture_output=True, text=True
    )
    assert app_info.returncode == 0, app_info.stderr
    data = json.loads(app_info.stdout)
    every = subprocess.run(
        [*command, "tasks", "--json"], env=env, cwd=HERE, capture_output=True, text=True
    )
    names = [task["Task name"] for task in json.loads(every.stdout)]
    assert data["Name"] == client.name and data["Tasks Count"] == len(names)
    assert {"add", "fail.text"} <= set(names)
    one = subprocess.run(
        [*command, "task", "add", "--json"], env=env, cwd=HERE, capture_output=True, text=True
    )
    assert json.loads(one.stdout)["Args"] == "a: int, b: int"
    missing = subprocess.run(
        [*command, "task", "nope"], env=env, cwd=HERE, capture_output=True, text=True
    )
    assert missing.returncode == 1 and "no task 'nope'" in missing.stderr
