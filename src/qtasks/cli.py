"""``qtasks -A module:app run``: the command line (click, rich output)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from qtasks.app import AppCore, dead_selection
from qtasks.brokers.urls import display_url
from qtasks.core.errors import QTasksError
from qtasks.core.records import DeadLetterQuery
from qtasks.core.result import Task

T = TypeVar("T")

console = Console(stderr=True)


def load_app(target: str) -> AppCore[Any]:
    """Import ``module:attribute``; a callable attribute is called to get the app."""
    module_name, _, attribute = target.partition(":")
    if not module_name:
        raise click.BadParameter(f"expected module:app, got {target!r}", param_hint="-A")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: the project dir is importable
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in (attribute or "app").split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise click.BadParameter(
                f"module {module_name!r} has no attribute {attribute or 'app'!r}", param_hint="-A"
            ) from None
    if not isinstance(obj, AppCore) and callable(obj):
        obj = obj()
    if not isinstance(obj, AppCore):
        raise click.BadParameter(f"{target!r} is not a QueueTasks app", param_hint="-A")
    return obj


def _run_client(app: AppCore[Any], call: Coroutine[Any, Any, T]) -> T:
    """Run one client call on a fresh loop and close the connection it opened (a pool
    left open keeps the process from exiting)."""

    async def closing() -> T:
        try:
            return await call
        finally:
            await app._client.close()

    return asyncio.run(closing())


@contextmanager
def _clear_errors() -> Iterator[None]:
    """Configuration and broker errors are the user's to fix: one line, no traceback."""
    try:
        yield
    except QTasksError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc


@click.group()
@click.option(
    "-A",
    "--app",
    "app_target",
    required=True,
    metavar="MODULE:APP",
    help="Where the app is: module:attribute (a function returning it works too).",
)
@click.option(
    "--log-level",
    default=None,
    help="Default: the app's logs_default_level_server (INFO).",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.pass_context
def main(ctx: click.Context, app_target: str, log_level: str | None) -> None:
    """qtasks: run workers and inspect queues."""
    with _clear_errors():
        app = load_app(app_target)
    logging.basicConfig(
        level=log_level.upper() if log_level else app.config.logs_default_level_server,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=True)],
    )
    ctx.obj = app


@main.command()
@click.option(
    "-c",
    "--concurrency",
    type=int,
    default=None,
    help="Tasks run at once (default: the app's max_tasks_process).",
)
@click.option(
    "-Q",
    "--queue",
    "queues",
    multiple=True,
    help="Queue to take tasks from; repeat for several (default: every queue the app's tasks use).",
)
@click.option(
    "--prefetch",
    type=click.IntRange(min=0),
    default=None,
    help="Most tasks claimed ahead of free slots (about 50 ms of work within it; 0: none).",
)
@click.option("--burst", is_flag=True, help="Exit once no task is due and none is running.")
@click.pass_obj
def run(
    app: AppCore[Any],
    concurrency: int | None,
    queues: tuple[str, ...],
    prefetch: int | None,
    burst: bool,
) -> None:
    """Run a worker until SIGTERM/SIGINT (a second signal stops at once)."""
    worker = app.make_worker(
        queues=queues or None, concurrency=concurrency, prefetch=prefetch, burst=burst
    )
    url = display_url(app.broker_url)
    console.print(  # user data (names, URL) as plain text: "[/]" in a name is no markup
        Text.assemble(
            ("qtasks", "bold green"),
            " worker for ",
            (app.name, "bold"),
            " on ",
            (url, "cyan"),
            f": {len(app.tasks)} tasks, queues {', '.join(worker.options.queues)}, "
            f"concurrency {worker.options.concurrency}",
        )
    )
    with _clear_errors():
        asyncio.run(worker.run())
    # Sync tasks abandoned at shutdown may still hold daemon threads: leave without joining them.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@main.command()
@click.option("-Q", "--queue", "queues", multiple=True, help="Only these queues.")
@click.pass_obj
def status(app: AppCore[Any], queues: tuple[str, ...]) -> None:
    """How many tasks are in each status."""
    with _clear_errors():
        counts = _run_client(app, app._client.count(queues or None))
    for name in ("new", "process", "success", "error", "cancel", "retry"):
        click.echo(f"{name:>8}: {counts.get(name, 0)}")


@main.command()
@click.pass_obj
def migrate(app: AppCore[Any]) -> None:
    """Create or upgrade the transport's tables; safe while workers run or start."""
    with _clear_errors():
        asyncio.run(_connect_once(app))
    click.echo(f"{display_url(app.broker_url)}: schema up to date")


async def _connect_once(app: AppCore[Any]) -> None:
    """Connecting is what migrates: every transport brings its schema up to date then."""
    broker = app._client.new_broker()
    try:
        await broker.connect()
    finally:
        await broker.close()


@main.command()
@click.argument("uuid")
@click.option("--reason", default="", help="Stored with the cancelled task.")
@click.pass_obj
def cancel(app: AppCore[Any], uuid: str, reason: str) -> None:
    """Cancel a waiting task, or ask the worker running it to stop it."""
    with _clear_errors():
        state = _run_client(app, app._cancel(uuid, reason))
    click.echo(f"{uuid}: {state.value}")
    if state.value == "unknown":
        sys.exit(1)


@main.group()
def dead() -> None:
    """Dead letters: tasks whose last run failed (list, show, requeue, purge)."""


def _error_line(task: Task) -> str:
    lines = (task.traceback or "").strip().splitlines()
    return lines[-1] if lines else ""


@dead.command("list")
@click.option("--task", "task_name", default=None, help="Only this task name.")
@click.option("-Q", "--queue", default=None, help="Only this queue.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.pass_obj
def dead_list(app: AppCore[Any], task_name: str | None, queue: str | None, limit: int) -> None:
    """The most recent dead letters, newest first."""
    with _clear_errors():
        found = _run_client(app, app._dead_letters(task_name, queue, limit))
    table = Table("uuid", "task", "queue", "failed at", "error", box=None)
    for task in found:
        failed = task.finished_at.isoformat(timespec="seconds") if task.finished_at else ""
        cells = (str(task.uuid), task.task_name, task.queue, failed, _error_line(task))
        table.add_row(*(Text(cell) for cell in cells))  # plain text, never markup
    Console().print(table)
    click.echo(f"{len(found)} dead letter(s)" + (" shown" if len(found) == limit else ""))


@dead.command("show")
@click.argument("uuid")
@click.pass_obj
def dead_show(app: AppCore[Any], uuid: str) -> None:
    """One dead letter in full: its call, attempts and traceback."""
    with _clear_errors():
        found = _run_client(app, _dead_one(app, uuid))
    if found is None:
        raise click.ClickException(f"no dead letter {uuid}")
    for label, value in (
        ("uuid", found.uuid),
        ("task", found.task_name),
        ("queue", found.queue),
        ("args", found.args),
        ("kwargs", found.kwargs),
        ("attempt", found.attempt),
        ("retry of", found.retry_parent_uuid),
        ("worker", found.worker_id),
        ("created", found.created_at),
        ("failed", found.finished_at),
    ):
        click.echo(f"{label:>9}: {value}")
    click.echo(found.traceback or "")


async def _dead_one(app: AppCore[Any], uuid: str) -> Task | None:
    stored = await app._client.dead_letters(DeadLetterQuery(ids=(uuid,), limit=1))
    return app._record(stored[0]) if stored else None


def _selection(uuids: tuple[str, ...], task_name: str | None, everything: bool) -> DeadLetterQuery:
    try:
        return dead_selection(uuids, task_name, everything)
    except ValueError as exc:
        raise click.UsageError(str(exc).replace("all=True", "--all")) from None


_select_options = [
    click.argument("uuids", nargs=-1),
    click.option("--task", "task_name", default=None, help="Every dead letter of this task."),
    click.option("--all", "everything", is_flag=True, help="Every dead letter."),
]


def _selecting(command: Any) -> Any:
    for option in reversed(_select_options):
        command = option(command)
    return command


@dead.command("requeue")
@_selecting
@click.pass_obj
def dead_requeue(
    app: AppCore[Any], uuids: tuple[str, ...], task_name: str | None, everything: bool
) -> None:
    """Put dead letters back in their queue (same uuid, attempts from zero)."""
    query = _selection(uuids, task_name, everything)
    with _clear_errors():
        count = _run_client(app, app._client.requeue_dead(query))
    click.echo(f"requeued {count} dead letter(s)")


@dead.command("purge")
@_selecting
@click.pass_obj
def dead_purge(
    app: AppCore[Any], uuids: tuple[str, ...], task_name: str | None, everything: bool
) -> None:
    """Delete dead letters."""
    query = _selection(uuids, task_name, everything)
    with _clear_errors():
        count = _run_client(app, app._client.purge_dead(query))
    click.echo(f"purged {count} dead letter(s)")
