"""Enqueue a few hundred tasks, start a worker process, watch it drain the queue.

Run from the repository root: ``bash scripts/demo.sh`` (or ``python examples/demo.py``
inside the venv). Everything happens in ``examples/qtasks.sqlite3``: nothing to
install or start.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

HERE = Path(__file__).resolve().parent
os.chdir(HERE)  # the default SQLite file is created in the working directory
sys.path.insert(0, str(HERE))

from demo_app import app, checksum, render_report, sometimes_fails  # noqa: E402

from qtasks import Task  # noqa: E402
from qtasks.tasks import TaskCall  # noqa: E402

console = Console()
FINAL = ("success", "error", "cancel")
#: The worker logs a line per task: to a file, so the progress bar stays readable.
WORKER_LOG = Path(tempfile.gettempdir()) / "qtasks-demo-worker.log"
WORKER = [sys.executable, "-m", "qtasks", "-A", "demo_app:app", "--log-format", "plain"]


def main() -> None:
    app.flush_all()
    console.rule("[bold]qtasks demo: embedded SQLite, one worker process")
    calls: list[TaskCall[Any]] = [checksum(f"document {i}") for i in range(300)]
    calls += [render_report(day) for day in range(1, 101)]
    calls += [sometimes_fails(i) for i in range(100)]
    started = time.perf_counter()
    records = app.add_tasks(calls)
    elapsed_ms = 1000 * (time.perf_counter() - started)
    console.print(
        f"enqueued [bold]{len(records)}[/] tasks in {elapsed_ms:.1f} ms "
        f"into [cyan]{HERE / 'qtasks.sqlite3'}[/]"
    )
    with WORKER_LOG.open("wb") as log:
        worker = subprocess.Popen(
            [*WORKER, "run", "--burst"],
            cwd=HERE,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    console.print(f"a worker process drains them; its log: [cyan]{WORKER_LOG}[/]")
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bar = progress.add_task("worker draining the queue", total=len(records))
        while True:
            counts = app.count()
            done = sum(counts.get(s, 0) for s in FINAL)
            progress.update(bar, completed=done)
            if done >= len(records) or worker.poll() is not None:
                break
            time.sleep(0.05)
    if worker.wait(timeout=30) != 0:
        console.print(WORKER_LOG.read_text(errors="replace")[-3000:], markup=False)
        console.print(f"[bold red]the worker exited with status {worker.returncode}[/]")
        sys.exit(1)
    show_summary(records)


def last_attempt(uuid: UUID) -> tuple[Task | None, int]:
    """The last record of a task's retry chain (its outcome) and how many attempts it took."""
    record, attempts = app.get(uuid), 1
    while record is not None and record.retry_child_uuid is not None:
        record, attempts = app.get(record.retry_child_uuid), attempts + 1
    return record, attempts


def show_summary(records: list[Task]) -> None:
    """Count each task once, by its last attempt, and check every task sent is counted."""
    chains = {record.uuid: last_attempt(record.uuid) for record in records}
    outcomes: Counter[str] = Counter()
    retried: Counter[str] = Counter()
    for last, attempts in chains.values():
        status = "missing" if last is None else last.status
        outcomes[status] += 1
        retried[status] += attempts > 1
    table = Table(title="outcomes (each task's final attempt)")
    table.add_column("status")
    table.add_column("tasks", justify="right")
    table.add_column("after retries", justify="right")
    others = sorted(set(outcomes) - {"success", "error"})  # cancel, or tasks left unfinished
    for status in ("success", "error", *others):
        table.add_row(status, str(outcomes[status]), str(retried[status]))
    table.add_section()
    table.add_row("total", str(outcomes.total()), str(retried.total()), style="bold")
    console.print(table)
    sample = app.get(records[300].uuid)
    if sample is not None:
        console.print(
            f"[bold]reports:render[/](1) returned {sample.returning!r} "
            f"(priority {sample.priority}, attempt {sample.attempt})"
        )
    flaky = next((r for r in records[400:] if chains[r.uuid][1] > 1), None)
    if flaky is not None:
        last, attempts = chains[flaky.uuid]
        console.print(
            f"sometimes_fails({flaky.args[0]}) raised Flaky, was retried and ended "
            f"[bold]{last.status if last else 'missing'}[/] after {attempts} attempts"
        )
    finished = sum(outcomes[status] for status in FINAL)
    if finished != len(records):
        console.print(
            f"[bold red]{len(records) - finished} of the {len(records)} tasks sent "
            "did not reach a final status[/]"
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
