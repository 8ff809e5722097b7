"""``qtasks status [--watch]``, ``qtasks tasks list|show`` and ``qtasks workers``: what a
running system is doing, read through :mod:`qtasks.monitor`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import click
from rich.live import Live

from qtasks.app import AppCore
from qtasks.brokers.urls import display_url
from qtasks.cli.base import (
    clear_errors,
    listed,
    main,
    pass_app,
    run_client,
    task_ids,
    unknown_queues,
    warn,
)
from qtasks.cli.screens import (
    STATUSES,
    as_json,
    overview_screen,
    stdout_console,
    task_detail,
    tasks_table,
    workers_table,
)
from qtasks.monitor import MAX_LIMIT, AsyncMonitor

_json_option = click.option(
    "--json", "as_json_", is_flag=True, help="Print JSON instead of a table."
)


@main.command()
@click.option("-Q", "--queue", "queues", multiple=True, help="Only these queues.")
@click.option(
    "--watch",
    is_flag=True,
    help="A live screen (queues with depth and throughput, workers, recent failures), "
    "refreshed until Ctrl-C.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds between refreshes of --watch.",
)
@click.option(
    "--count",
    "refreshes",
    type=click.IntRange(min=1),
    default=None,
    help="With --watch: stop after this many refreshes (default: until Ctrl-C).",
)
@_json_option
@pass_app
def status(
    app: AppCore[Any],
    queues: tuple[str, ...],
    watch: bool,
    interval: float,
    refreshes: int | None,
    as_json_: bool,
) -> None:
    """How many tasks are in each status (--watch: a live screen of the whole system)."""
    if watch:
        if as_json_:
            raise click.UsageError("--watch is a screen; --json prints one snapshot: pick one")
        with clear_errors():
            asyncio.run(live_screen(app, interval, refreshes))
        return
    unused = unknown_queues(app, queues)
    with clear_errors():
        counts, empty = run_client(app, _counts(app, queues, unused))
    if empty:
        warn(
            f"queue {listed(empty)} is used by no task of this app and holds no tasks "
            f"(its queues: {', '.join(app._default_queues())})"
        )
    if as_json_:
        click.echo(as_json({name: counts.get(name, 0) for name in STATUSES}))
        return
    for name in STATUSES:
        click.echo(f"{name:>8}: {counts.get(name, 0)}")


async def _counts(
    app: AppCore[Any], queues: tuple[str, ...], unused: list[str]
) -> tuple[dict[str, int], list[str]]:
    """The counts asked for, and those of ``unused`` that hold no task at all."""
    counts = await app._client.count(queues or None)
    empty = [q for q in unused if not any((await app._client.count([q])).values())]
    return counts, empty


async def live_screen(app: AppCore[Any], interval: float, refreshes: int | None) -> None:
    """The live screen of ``status --watch`` (also ``manage.py qtasks_status --watch``):
    refreshed every ``interval`` seconds, ``refreshes`` times or until Ctrl-C."""
    monitor = AsyncMonitor(app)
    url = display_url(app.broker_url)
    console = stdout_console()
    shown = 0
    try:
        with Live(console=console, auto_refresh=False, screen=console.is_terminal) as live:
            while refreshes is None or shown < refreshes:
                started = time.monotonic()
                overview = await monitor.overview()
                live.update(overview_screen(overview, app.name, url), refresh=True)
                shown += 1
                if refreshes is not None and shown >= refreshes:
                    break
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    finally:
        await app._client.close()


@main.group()
def tasks() -> None:
    """Stored tasks: waiting, running and finished (list, show)."""


@tasks.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUSES, case_sensitive=False),
    help="Only tasks in this status; repeat for several.",
)
@click.option("-Q", "--queue", "queues", multiple=True, help="Only this queue; repeat for several.")
@click.option("--task", "task_name", default=None, metavar="NAME", help="Only this task name.")
@click.option("--limit", type=click.IntRange(min=1, max=MAX_LIMIT), default=50, show_default=True)
@click.option(
    "--before",
    callback=task_ids,
    default=None,
    metavar="UUID",
    help="Only tasks older than this one (the last uuid of the previous page).",
)
@_json_option
@pass_app
def tasks_list(
    app: AppCore[Any],
    statuses: tuple[str, ...],
    queues: tuple[str, ...],
    task_name: str | None,
    limit: int,
    before: str | None,
    as_json_: bool,
) -> None:
    """Stored tasks, newest first (full uuids: copy one into tasks show)."""
    monitor = AsyncMonitor(app)
    with clear_errors():
        found = run_client(
            app,
            monitor.tasks(
                status=statuses or None,
                queue=queues or None,
                task_name=task_name,
                limit=limit,
                before=before,
            ),
        )
    if as_json_:
        click.echo(as_json(found))
        return
    stdout_console().print(tasks_table(found))
    more = f"; older ones: --before {found[-1].uuid}" if len(found) == limit else ""
    click.echo(f"{len(found)} task(s){more}")


@tasks.command("show")
@click.argument("uuid", callback=task_ids)
@_json_option
@pass_app
def tasks_show(app: AppCore[Any], uuid: str, as_json_: bool) -> None:
    """One task in full: its call, result or traceback, workers and retry chain.

    Exit status 1 when no task has that id (or its record expired).
    """
    with clear_errors():
        detail = run_client(app, AsyncMonitor(app).task(uuid))
    if detail is None:
        raise click.ClickException(f"no task {uuid} (unknown, or its record expired)")
    if as_json_:
        click.echo(as_json(detail))
        return
    stdout_console().print(task_detail(detail))


@main.command()
@_json_option
@pass_app
def workers(app: AppCore[Any], as_json_: bool) -> None:
    """Workers heard of in the last hour: alive, stopped, or dead (heartbeat expired)."""
    with clear_errors():
        found = run_client(app, AsyncMonitor(app).workers())
    if as_json_:
        click.echo(as_json(found))
        return
    if not found:
        click.echo("no worker heard of in the last hour")
        return
    stdout_console().print(workers_table(found))
    alive = sum(1 for w in found if w.alive)
    click.echo(f"{alive} alive, {len(found) - alive} stopped or dead")
