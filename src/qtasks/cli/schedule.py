"""``qtasks timer`` (a stand-alone scheduler) and ``qtasks schedule list``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
from typing import Any

import click
from rich.table import Table

from qtasks.app import AppCore
from qtasks.cli.base import clear_errors, main, pass_app, run_client
from qtasks.cli.screens import stdout_console
from qtasks.schedule.listing import ScheduleState, schedule_states


@main.command()
@pass_app
def timer(app: AppCore[Any]) -> None:
    """Fire the app's schedules until SIGTERM/SIGINT, without running tasks.

    Run as many as you like (here, on other machines, and workers started with
    ``run --schedule``): each tick still fires once.
    """
    with clear_errors():
        scheduler = app.scheduler()
    names = ", ".join(s.name for s in scheduler.schedules)
    click.echo(f"timer of app {app.name!r}: firing {names}")

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, scheduler.stop)
        try:
            await scheduler.run()
        finally:
            await app._client.close()

    with clear_errors():
        asyncio.run(serve())


@main.group()
def schedule() -> None:
    """The app's schedules (periodic tasks)."""


@schedule.command("list")
@click.option("--json", "as_json_", is_flag=True, help="Print JSON instead of a table.")
@pass_app
def schedule_list(app: AppCore[Any], as_json_: bool) -> None:
    """Each schedule: its trigger, next fire, last fire and the last run's status."""
    with clear_errors():
        states = run_client(app, schedule_states(app))
    if as_json_:
        click.echo(json.dumps([s.as_dict() for s in states], indent=2))
        return
    if not states:
        click.echo(f"app {app.name!r} has no schedules")
        return
    stdout_console().print(schedule_table(states))


def _when(t: float | None) -> str:
    if t is None:
        return "-"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def schedule_table(states: list[ScheduleState]) -> Table:
    table = Table("schedule", "task", "trigger", "next fire", "last fire", "last run")
    for state in states:
        table.add_row(
            state.schedule.name,
            state.schedule.task_name,
            state.schedule.trigger.describe(),
            _when(state.next_fire),
            _when(state.last_tick),
            state.last_status or "-",
        )
    return table
