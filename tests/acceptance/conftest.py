"""Fixtures for the multi-process acceptance tests.

Each test gets its own SQLite file (``db_path``/``db_url``), a client app in
the test process (``client``) and a ``workers`` factory that starts worker
processes with the real command line (``python -m qtasks -A procapp:app run``
or the ``qtasks`` console script). Every worker's stdout+stderr goes to a log
file; the logs are attached to the report of a failing test, and leftover
workers are killed at teardown.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from qtasks import QueueTasks
from tests.conftest import REDIS_URL, flush_redis, postgres_schema
from tests.redis_cluster import flush_cluster

from . import procapp

HERE = Path(__file__).resolve().parent
APP_TARGET = "procapp:app"
#: Log text of the worker once its signal handlers are installed and it claims tasks.
READY_TEXT = "listening on"
#: Log text of a worker that got a first stop signal and waits for its running tasks.
STOPPING_TEXT = "stopping: waiting"

T = TypeVar("T")


# polling ------------------------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


# worker processes ---------------------------------------------------------------------------


def _console_script() -> str:
    candidate = Path(sys.executable).with_name("qtasks")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("qtasks")
    if found is None:
        pytest.fail("the qtasks console script is not installed next to the test interpreter")
    return found


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: SIGKILL the worker if pytest itself dies (e.g. a hard timeout)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class WorkerProc:
    """One worker process started through the CLI."""

    def __init__(self, proc: subprocess.Popen[bytes], name: str, log_path: Path) -> None:
        self.proc = proc
        self.name = name
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait for the 'worker ... listening on ...' log line (signal handlers are installed)."""

        def ready() -> bool:
            if not self.alive():
                raise AssertionError(
                    f"worker {self.name} exited with {self.proc.returncode} before it was ready:\n"
                    + self.log()
                )
            return READY_TEXT in " ".join(self.log().split())

        wait_until(ready, timeout=timeout, what=f"worker {self.name} to listen")

    def send(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker {self.name} still running {timeout:.0f}s later:\n{self.log()}"
            ) from None

    def kill(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)


class Workers:
    """Starts worker processes for one test, all on the test's SQLite file."""

    def __init__(self, tmp_path: Path, db_url: str) -> None:
        self.tmp_path = tmp_path
        self.db_url = db_url
        self.started: list[WorkerProc] = []

    def env(
        self, extra: dict[str, str] | None = None, *, pythonpath: bool = True
    ) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QTASKS_")}
        env.pop("PYTHONPATH", None)
        if pythonpath:
            env["PYTHONPATH"] = str(HERE)
        env["QTASKS_BROKER_URL"] = self.db_url
        env["PYTHONUNBUFFERED"] = "1"
        env["COLUMNS"] = "400"  # rich wraps log lines at 80 columns when not on a terminal
        env.update(extra or {})
        return env

    def start(
        self,
        *run_args: str,
        env: dict[str, str] | None = None,
        script: bool = False,
        cwd: Path | None = None,
        pythonpath: bool = True,
        group_args: Sequence[str] = (),
        command: str = "run",
        target: str = APP_TARGET,
    ) -> WorkerProc:
        """Start ``qtasks -A procapp:app *group_args run *run_args`` (or another ``command``
        of another ``target``); ``env`` adds/overrides variables."""
        launcher = [_console_script()] if script else [sys.executable, "-m", "qtasks"]
        cmd = [*launcher, "-A", target, *group_args, command, *run_args]
        name = f"w{len(self.started) + 1}"
        log_path = self.tmp_path / f"worker-{name}.log"
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(
                cmd,
                cwd=str(cwd or self.tmp_path),
                env=self.env(env, pythonpath=pythonpath),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        worker = WorkerProc(proc, name, log_path)
        self.started.append(worker)
        return worker

    def logs(self) -> str:
        parts = []
        for w in self.started:
            status = "running" if w.alive() else f"exit code {w.proc.returncode}"
            parts.append(f"----- worker {w.name} (pid {w.pid}, {status}) -----\n{w.log()}")
        return "\n".join(parts)

    def kill_all(self) -> None:
        for w in self.started:
            w.kill()


# fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "queue.sqlite3"


@pytest.fixture
def db_url(request: pytest.FixtureRequest, db_path: Path) -> Iterator[str]:
    """SQLite by default; a test module opts into more transports with
    ``pytest.mark.parametrize("db_url", ["sqlite", "redis", "postgres"], indirect=True)``."""
    kind = getattr(request, "param", "sqlite")
    if kind == "redis":
        flush_redis()
        yield REDIS_URL
        flush_redis()
        return
    if kind == "redis-cluster":  # a local 3-node cluster, started once per session
        url = request.getfixturevalue("redis_cluster")
        flush_cluster(url)
        yield url
        flush_cluster(url)
        return
    if kind == "postgres":
        with postgres_schema() as url:
            yield url
        return
    assert kind == "sqlite" and db_path.is_absolute()
    yield f"sqlite:///{db_path}"  # sqlite:////abs/path


@pytest.fixture
def workers(tmp_path: Path, db_url: str) -> Iterator[Workers]:
    factory = Workers(tmp_path, db_url)
    yield factory
    factory.kill_all()


@pytest.fixture
def client(db_url: str) -> Iterator[QueueTasks]:
    """The test process' app: same tasks as the workers', same SQLite file."""
    app = procapp.make_app(broker_url=db_url)
    assert app.ping()  # connects, creating the schema
    yield app
    app.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    """Attach every worker's log to the report of a failing test."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        factory = getattr(item, "funcargs", {}).get("workers")
        if isinstance(factory, Workers) and factory.started:
            report.sections.append((f"worker logs ({report.when})", factory.logs()))


# direct database access ---------------------------------------------------------------------


def query(db_path: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as conn:
        return conn.execute(sql, params).fetchall()


def insert_raw(
    db_path: Path,
    *,
    task_name: str,
    body: bytes | str,
    queue: str = "default",
    priority: int = 0,
    task_id: str | None = None,
    app: str = "procapp",
) -> str:
    """INSERT a queued row straight into the table (what a foreign or buggy producer might
    do), in the namespace of app ``app`` (the workers' app by default)."""
    task_id = task_id or str(uuid.uuid4())
    now = time.time()
    with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as conn, conn:
        conn.execute(
            "INSERT INTO qtasks_task (app, id, queue, task_name, priority, eta, status, body,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'new', ?, ?, ?)",
            (app, task_id, queue, task_name, priority, now, body, now, now),
        )
    return task_id
