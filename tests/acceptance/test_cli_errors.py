"""The command line's mistakes, as a newcomer makes them: each is one clear line on stderr
with a documented exit status (1: the command failed; 2: bad usage or no app), never a
page of click frames. ``--help`` works without an app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qtasks import QueueTasks

from .conftest import Workers, _console_script

#: Text only a Python traceback prints.
TRACEBACK = "Traceback (most recent call last)"


def qtasks(
    workers: Workers, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The ``qtasks`` console script, as a user runs it."""
    return subprocess.run(
        [_console_script(), *args],
        cwd=cwd or workers.tmp_path,
        env=workers.env(env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert TRACEBACK not in stderr and "click" not in stderr, stderr
    return lines[0]


# --help without an app --------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [[], ["run"], ["status"], ["migrate"], ["cancel"], ["dead"], ["dead", "purge"]],
    ids=lambda c: " ".join(c) or "qtasks",
)
def test_help_needs_no_app(workers: Workers, command: list[str]) -> None:
    done = qtasks(workers, *command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: qtasks"), done.stdout
    assert done.stderr == ""


def test_help_documents_exit_status_and_new_options(workers: Workers) -> None:
    top = qtasks(workers, "--help").stdout
    assert "Exit status" in top and "--traceback" in top and "QTASKS_APP" in top
    assert "--wait-for-broker SECONDS" in qtasks(workers, "run", "--help").stdout
    purge = qtasks(workers, "dead", "purge", "--help").stdout
    assert "--task NAME" in purge and "--all" in purge and "[UUID]..." in purge
    module = subprocess.run(  # `python -m qtasks` is the same command
        [sys.executable, "-m", "qtasks", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=workers.env(),
    )
    assert module.returncode == 0 and "--wait-for-broker" in module.stdout


def test_a_command_without_an_app_says_so(workers: Workers) -> None:
    done = qtasks(workers, "status")
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert "no app given" in line and "-A" in line and "QTASKS_APP" in line


def test_qtasks_app_variable_names_the_app(workers: Workers, client: QueueTasks) -> None:
    client.tasks["add"].add_task(1, 2)
    done = qtasks(workers, "status", env={"QTASKS_APP": "procapp:app"})
    assert done.returncode == 0, done.stderr
    assert "     new: 1" in done.stdout


# -A that cannot be loaded -------------------------------------------------------------------

MODULES = {
    "badsyntax.py": "x = 1\ndef f(:\n    pass\n",
    "baddep.py": "import os\nimport not_installed_anywhere\n",
    "boom.py": (
        "from qtasks import QueueTasks\n\ndef helper():\n    raise RuntimeError('boom')\n\n"
        "helper()\napp = QueueTasks()\n"
    ),
    "badurl.py": "from qtasks import QueueTasks\n\napp = QueueTasks(broker_url='nosuch://x')\n",
    "noapp.py": "answer = 42\n\ndef make():\n    raise LookupError('no app today')\n",
    "outer.py": "import inner_broken\n",
    "inner_broken.py": "def f(x:\n",
}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("nonexistent", ["-A nonexistent: no module named 'nonexistent'"]),
        ("pkg.mod:app", ["-A pkg.mod:app: no module named 'pkg'"]),
        ("procapp:missing", ["has no attribute 'missing'", "(apps in it: app)"]),
        ("noapp:answer", ["an object of type int, not a QueueTasks app"]),
        ("badsyntax", ["importing badsyntax failed at badsyntax.py:2: SyntaxError"]),
        ("baddep", ["baddep.py:2: ModuleNotFoundError", "not_installed_anywhere"]),
        ("boom", ["importing boom failed at boom.py:4: RuntimeError: boom"]),
        ("badurl", ["badurl.py:3: UnknownTransportError", "nosuch"]),
        ("noapp:make", ["calling noapp:make failed at noapp.py:4: LookupError: no app today"]),
        ("outer", ["importing outer failed at inner_broken.py:1: SyntaxError"]),
        ("shop/tasks.py", ["expected MODULE:APP", "not a file path"]),
    ],
)
def test_an_app_that_cannot_be_loaded_is_one_line(
    workers: Workers, target: str, expected: list[str]
) -> None:
    for name, text in MODULES.items():
        (workers.tmp_path / name).write_text(text)
    done = qtasks(workers, "-A", target, "status")
    assert done.returncode == 2, done.stderr
    line = one_line(done.stderr)
    assert line.startswith("Error: "), line
    for part in expected:
        assert part in line, line
    assert done.stdout == ""


def test_traceback_option_prints_the_whole_traceback(workers: Workers) -> None:
    (workers.tmp_path / "boom.py").write_text(MODULES["boom.py"])
    done = qtasks(workers, "--traceback", "-A", "boom", "run")
    assert done.returncode == 2
    assert TRACEBACK in done.stderr
    assert 'boom.py", line 6, in <module>' in done.stderr  # the frames, not one line
    assert done.stderr.rstrip().endswith("RuntimeError: boom")


def test_traceback_option_also_shows_a_command_failure(workers: Workers) -> None:
    env = {"QTASKS_BROKER_URL": "redis://127.0.0.1:1/0"}
    short = qtasks(workers, "-A", "procapp:app", "status", env=env)
    assert short.returncode == 1 and "BrokerError" in one_line(short.stderr)
    full = qtasks(workers, "--traceback", "-A", "procapp:app", "status", env=env)
    assert full.returncode == 1 and TRACEBACK in full.stderr and "BrokerError" in full.stderr


# dead letters, cancel, queues ---------------------------------------------------------------


@pytest.mark.parametrize("command", ["purge", "requeue"])
def test_dead_letter_selection_names_the_real_options(workers: Workers, command: str) -> None:
    nothing = qtasks(workers, "-A", "procapp:app", "dead", command)
    assert nothing.returncode == 2
    assert "UUID..., --task NAME, or --all" in nothing.stderr
    assert "task_name=" not in nothing.stderr and "all=True" not in nothing.stderr
    both = qtasks(workers, "-A", "procapp:app", "dead", command, "--all", "--task", "add")
    assert both.returncode == 2 and "--all acts on every dead letter" in both.stderr
    typo = qtasks(workers, "-A", "procapp:app", "dead", command, "0190a8e8")
    assert typo.returncode == 2 and "'0190a8e8' is not a task id" in typo.stderr


def test_cancel_tells_a_typo_from_an_unknown_task(workers: Workers, client: QueueTasks) -> None:
    typo = qtasks(workers, "-A", "procapp:app", "cancel", "not-a-uuid")
    assert typo.returncode == 2
    assert "'not-a-uuid' is not a task id" in typo.stderr and "unknown" not in typo.stderr
    unknown = qtasks(workers, "-A", "procapp:app", "cancel", "0190a8e8-0000-7000-8000-000000000000")
    assert unknown.returncode == 1 and "unknown" in unknown.stdout
    waiting = client.tasks["add"].add_task(1, 2)
    assert waiting is not None
    shouted = qtasks(workers, "-A", "procapp:app", "cancel", str(waiting.uuid).upper())
    assert shouted.returncode == 0, shouted.stdout + shouted.stderr  # any form of the UUID
    assert f"{waiting.uuid}: cancelled" in shouted.stdout
    assert client.get(waiting.uuid).status == "cancel"
    shown = qtasks(workers, "-A", "procapp:app", "dead", "show", "nope")
    assert shown.returncode == 2 and "'nope' is not a task id" in shown.stderr


def test_status_warns_of_a_queue_nobody_uses(workers: Workers, db_url: str) -> None:
    producer = QueueTasks("procapp", broker_url=db_url)  # another app's task, same namespace
    producer.task("legacy.job", queue="legacy")(lambda: None)
    producer.add_task("legacy.job")
    producer.close()

    unknown = qtasks(workers, "-A", "procapp:app", "status", "-Q", "nosuchqueue")
    assert unknown.returncode == 0, unknown.stderr
    line = one_line(unknown.stderr)
    assert line.startswith("warning: queue 'nosuchqueue'") and "its queues: default" in line
    assert "     new: 0" in unknown.stdout  # the counts all the same

    used = qtasks(workers, "-A", "procapp:app", "status", "-Q", "legacy")
    assert used.returncode == 0 and used.stderr == ""  # not the app's, but it holds a task
    assert "     new: 1" in used.stdout
    known = qtasks(workers, "-A", "procapp:app", "status", "-Q", "default")
    assert known.returncode == 0 and known.stderr == ""


def test_run_warns_of_a_queue_no_task_uses(workers: Workers) -> None:
    worker = workers.start("--burst", "-Q", "default", "-Q", "elsewhere")
    assert worker.wait_exit(60) == 0, worker.log()
    log = " ".join(worker.log().split())
    assert "warning: no task of this app uses queue 'elsewhere' (its queues: default)" in log
    assert "queues default, elsewhere" in log  # it takes from it anyway


def test_a_misspelt_setting_variable_is_one_warning_line(workers: Workers) -> None:
    done = qtasks(workers, "-A", "procapp:app", "status", env={"QTASKS_MAX_TASK_PROCESS": "3"})
    assert done.returncode == 0, done.stderr
    assert one_line(done.stderr) == (
        "warning: environment variable QTASKS_MAX_TASK_PROCESS is not a qtasks setting and "
        "is ignored; did you mean QTASKS_MAX_TASKS_PROCESS?"
    )
    assert "     new: 0" in done.stdout
