"""Enqueue a few hundred tasks, start a worker process, watch it drain the queue.

Run from the repository root: ``bash scripts/demo.sh`` (or ``python examples/demo.py``
inside the venv). Everything happens in ``examples/qtasks.sqlite3``: nothing to
install or start.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

HERE = Path(__file__).resolve().parent
os.chdir(HERE)  # the default SQLite file is created in the working directory
sys.path.insert(0, str(HERE))

from demo_app import app, checksum, render_report, sometimes_fails  # noqa: E402

console = Console()
FINAL = ("success", "error", "cancel")


def main() -> None:
    app.flush_all()
    console.rule("[bold]qtasks demo: embedded SQLite, one worker process")
    calls = [checksum(f"document {i}") for i in range(300)]
    calls += [render_report(day) for day in range(1, 101)]
    calls += [sometimes_fails(i) for i in range(100)]
    started = time.perf_counter()
    records = app.add_tasks(calls)
    console.print(
        f"enqueued [bold]{len(records)}[/] tasks in {1000 * (time.perf_counter() - started):.1f} ms "
        f"into [cyan]{HERE / 'qtasks.sqlite3'}[/]"
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "qtasks", "-A", "demo_app:app", "run", "--burst"], cwd=HERE
    )
    with Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(),
        MofNCompleteColumn(), TimeElapsedColumn(), console=console,
    ) as progress:
        bar = progress.add_task("worker draining the queue", total=len(records))
        while True:
            counts = app.count()
            done = sum(counts.get(s, 0) for s in FINAL)
            progress.update(bar, completed=done)
            if done >= len(records) or worker.poll() is not None:
                break
            time.sleep(0.05)
    worker.wait(timeout=30)
    show_summary(records)


def show_summary(records: list) -> None:  # type: ignore[type-arg]
    counts = app.count()
    table = Table(title="outcomes (each task's final attempt)")
    table.add_column("status")
    table.add_column("tasks", justify="right")
    for status in ("success", "retry", "error"):
        table.add_row(status, str(counts.get(status, 0)))
    console.print(table)
    sample = app.get(records[300].uuid)
    if sample is not None:
        console.print(f"[bold]reports:render[/](1) returned {sample.returning!r} "
                      f"(priority {sample.priority}, attempt {sample.attempt})")
    final = records[-1].wait_result(timeout=5)
    if final is not None:
        console.print(f"sometimes_fails(99) ended [bold]{final.status}[/] "
                      f"after {1 if final.retry_parent_uuid is None else 'several'} attempt(s)")


if __name__ == "__main__":
    main()
