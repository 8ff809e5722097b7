"""``qtasks run``, ``migrate`` and ``cancel``."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any

import click
from rich.text import Text

from qtasks.app import AppCore
from qtasks.banner import banner_parts
from qtasks.brokers.urls import display_url
from qtasks.cli.base import (
    clear_errors,
    console,
    listed,
    main,
    pass_app,
    run_client,
    task_ids,
    unknown_queues,
    warn,
)
from qtasks.logs import TaskLog


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
@click.option(
    "--wait-for-broker",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="SECONDS",
    help="If the broker does not answer at start, retry for up to this long (default 0: "
    "exit with status 1 at once).",
)
@click.option(
    "--quiet-success",
    is_flag=True,
    help="Log each task's success at DEBUG instead of INFO (failures, retries, time-outs "
    "and cancellations are still logged).",
)
@click.option(
    "--schedule",
    is_flag=True,
    help="Also fire the app's schedules (each tick fires once however many workers and "
    "timers do).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(min=1, max=65535),
    default=None,
    metavar="PORT",
    help="Serve Prometheus metrics at http://HOST:PORT/metrics (needs the metrics extra).",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="Interface the metrics endpoint binds to.",
)
@pass_app
def run(
    app: AppCore[Any],
    concurrency: int | None,
    queues: tuple[str, ...],
    prefetch: int | None,
    burst: bool,
    wait_for_broker: float,
    quiet_success: bool,
    schedule: bool,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Run a worker until SIGTERM/SIGINT (a second signal stops at once).

    The worker connects first: a broker that does not answer ends it with one
    line and exit status 1 (or, with --wait-for-broker, once that time is up).
    Once it runs, a broker that goes away is retried with back-off.
    """
    with clear_errors():
        worker = app.make_worker(
            queues=queues or None,
            concurrency=concurrency,
            prefetch=prefetch,
            burst=burst,
            schedule=schedule,
        )
    if quiet_success:
        for task_log in app.hooks.of_type(TaskLog):
            task_log.success_level = logging.DEBUG
    if metrics_port is not None:
        _serve_metrics(app, metrics_host, metrics_port)
    unused = unknown_queues(app, queues)
    if unused:
        warn(
            f"no task of this app uses queue {listed(unused)} "
            f"(its queues: {', '.join(app._default_queues())}); taking from it anyway"
        )
    # user data (names, URL) as plain text: "[/]" in a name is no markup
    console.print(Text.assemble(*banner_parts(app, worker)))
    if schedule:
        console.print(Text(f"schedules: {', '.join(app.schedules)}"))
    with clear_errors():
        asyncio.run(worker.run(wait_for_broker=wait_for_broker))
    # Sync tasks abandoned at shutdown may still hold daemon threads: leave without joining them.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _serve_metrics(app: AppCore[Any], host: str, port: int) -> None:
    """Count the app's runs and serve them to Prometheus, or say why it cannot."""
    try:
        from qtasks import metrics
    except ImportError:
        raise click.UsageError(
            "--metrics-port needs prometheus_client: install qtasks with the metrics extra "
            '(pip install ".[metrics]" from your checkout of qtasks)'
        ) from None
    metrics.instrument(app)
    try:
        metrics.serve(port, host)
    except OSError as exc:
        raise click.ClickException(f"cannot serve metrics on {host}:{port}: {exc}") from None
    console.print(Text(f"metrics at http://{host}:{port}/metrics"))


@main.command()
@pass_app
def migrate(app: AppCore[Any]) -> None:
    """Create or upgrade the transport's tables; safe while workers run or start."""
    with clear_errors():
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
@click.argument("uuid", callback=task_ids)
@click.option("--reason", default="", help="Stored with the cancelled task.")
@pass_app
def cancel(app: AppCore[Any], uuid: str, reason: str) -> None:
    """Cancel a waiting task, or ask the worker running it to stop it.

    Prints the task's state; exit status 1 when no task has that id.
    """
    with clear_errors():
        state = run_client(app, app._cancel(uuid, reason))
    click.echo(f"{uuid}: {state.value}")
    if state.value == "unknown":
        sys.exit(1)
