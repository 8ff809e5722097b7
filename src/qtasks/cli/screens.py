"""Rich renderings of the monitor's records: the tables of ``status``, ``status --watch``,
``tasks`` and ``workers`` (user data always as plain text, never as markup)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from qtasks.core.result import Task
from qtasks.monitor import Overview, QueueView, TaskDetail, WorkerView, jsonable
from qtasks.monitor.text import error_line as traceback_line

STATUSES = ("new", "process", "success", "error", "cancel", "retry")


def as_json(value: Any) -> str:
    """The records as the ``--json`` output prints them."""
    return json.dumps(jsonable(value), indent=2, ensure_ascii=False)


#: Columns shown whole however narrow the terminal (ids are copied from them).
_WHOLE = {"uuid", "task id", "worker"}


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(box=None, title=title, title_justify="left", title_style="bold")
    for name in columns:
        table.add_column(name, no_wrap=name in _WHOLE)
    return table


def _row(table: Table, *cells: object) -> None:
    texts = [Text("" if c is None else str(c)) for c in cells]
    for column, text in zip(table.columns, texts, strict=False):
        if column.header in _WHOLE:
            column.min_width = max(column.min_width or 0, len(text))
    table.add_row(*texts)


def stdout_console() -> Console:
    """Where tables go: the terminal, or (piped, redirected) 160 columns rather than 80."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    return console


def _when(moment: datetime | float | None) -> str:
    if moment is None:
        return ""
    if isinstance(moment, (int, float)):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def error_line(task: Task) -> str:
    """The last line of a task's traceback (the exception and its message)."""
    return traceback_line(task.traceback)


def tasks_table(tasks: Iterable[Task]) -> Table:
    table = _table("uuid", "status", "task", "queue", "attempt", "created", "finished", "error")
    for task in tasks:
        _row(
            table,
            task.uuid,
            task.status,
            task.task_name,
            task.queue,
            task.attempt,
            _when(task.created_at),
            _when(task.finished_at),
            error_line(task) if task.status == "error" else task.cancel_reason,
        )
    return table


def dead_table(tasks: Iterable[Task]) -> Table:
    table = _table("uuid", "task", "queue", "failed at", "error")
    for task in tasks:
        failed = _when(task.finished_at)
        _row(table, task.uuid, task.task_name, task.queue, failed, error_line(task))
    return table


def task_detail(detail: TaskDetail) -> RenderableType:
    task = detail.task
    fields = _table("", "")
    fields.show_header = False
    for label, value in (
        ("uuid", task.uuid),
        ("status", task.status),
        ("task", task.task_name),
        ("queue", task.queue),
        ("priority", task.priority),
        ("args", repr(task.args)),
        ("kwargs", repr(task.kwargs)),
        ("attempt", task.attempt),
        ("workers", ", ".join(detail.worker_ids)),
        ("created", _when(task.created_at)),
        ("started", _when(task.started_at)),
        ("finished", _when(task.finished_at)),
        ("result", repr(task.returning) if task.status == "success" else None),
        ("error", detail.error_type),
        ("cancelled", task.cancel_reason),
    ):
        if value not in (None, ""):
            _row(fields, label, value)
    parts: list[RenderableType] = [fields]
    if len(detail.chain) > 1:
        chain = _table("#", "uuid", "status", "worker", "finished", title="retry chain")
        for n, step in enumerate(detail.chain, 1):
            mark = " <" if step.uuid == task.uuid else ""
            _row(
                chain, n, f"{step.uuid}{mark}", step.status, step.worker_id, _when(step.finished_at)
            )
        parts.append(chain)
    if task.traceback:
        parts.append(Text(task.traceback))
    return Group(*parts)


def workers_table(workers: Iterable[WorkerView], now: float | None = None) -> Table:
    now = time.time() if now is None else now
    table = _table("worker", "state", "queues", "running", "done", "failed", "started", "last seen")
    for view in workers:
        w = view.info
        running = f"{len(w.running)}/{w.concurrency}"
        _row(
            table,
            w.id,
            view.state,
            ", ".join(w.queues),
            running,
            w.done,
            w.failed,
            _when(w.started_at),
            _ago(max(0.0, now - w.last_seen)),
        )
    return table


def _rate(view: QueueView) -> str:
    rate = view.failure_rate
    return "" if rate is None else f"{rate:.1%}"


def _per_minute(view: QueueView, what: str, minutes: int = 5) -> str:
    recent = view.minutes[-minutes:]
    return f"{sum(getattr(r, what) for r in recent) / max(1, len(recent)):.1f}"


def queues_table(queues: Iterable[QueueView], minutes: int) -> Table:
    table = _table(
        "queue",
        "ready",
        "delayed",
        "running",
        "in/min",
        "done/min",
        f"failed ({minutes}m)",
        "failure rate",
        title="queues",
    )
    for view in queues:
        d = view.depth
        _row(
            table,
            d.queue,
            d.ready,
            d.delayed,
            d.running,
            _per_minute(view, "enqueued"),
            _per_minute(view, "succeeded"),
            view.total("failed"),
            _rate(view),
        )
    return table


def counts_line(counts: dict[str, int]) -> Text:
    return Text("   ".join(f"{name} {counts.get(name, 0)}" for name in STATUSES))


def overview_screen(overview: Overview, app_name: str, url: str) -> RenderableType:
    """The whole ``status --watch`` screen."""
    alive = [w for w in overview.workers if w.alive]
    heading = Text.assemble(
        ("qtasks", "bold green"),
        " ",
        (app_name, "bold"),
        f" on {url} — {_when(overview.taken_at)} — {len(alive)} worker(s) alive",
    )
    failures = _table("uuid", "task", "queue", "failed", "error", title="recent failures")
    for task in overview.failures:
        _row(
            failures,
            task.uuid,
            task.task_name,
            task.queue,
            _when(task.finished_at),
            error_line(task),
        )
    workers = workers_table(overview.workers, overview.taken_at)
    workers.title, workers.title_justify, workers.title_style = "workers", "left", "bold"
    parts: list[RenderableType] = [
        heading,
        counts_line(overview.counts),
        Text(""),
        queues_table(overview.queues, overview.minutes),
        Text(""),
        workers if overview.workers else Text("no worker heard of in the last hour"),
    ]
    if overview.failures:
        parts += [Text(""), failures]
    return Group(*parts)
