"""``qtasks dashboard``: serve the web dashboard (extra ``dashboard``)."""

from __future__ import annotations

from typing import Any

import click
from rich.text import Text

from qtasks.app import AppCore
from qtasks.cli.base import console, main, pass_app


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--port", type=click.IntRange(min=1, max=65535), default=8800, show_default=True
)
@click.option(
    "--auth",
    envvar="QTASKS_DASHBOARD_AUTH",
    metavar="USER:PASSWORD",
    default=None,
    help="Ask for this user and password (HTTP Basic); default: $QTASKS_DASHBOARD_AUTH.",
)
@click.option(
    "--token",
    envvar="QTASKS_DASHBOARD_TOKEN",
    default=None,
    help="Ask for this bearer token (16+ characters; open once with ?token=...); "
    "default: $QTASKS_DASHBOARD_TOKEN.",
)
@pass_app
def dashboard(
    app: AppCore[Any], host: str, port: int, auth: str | None, token: str | None
) -> None:
    """Serve the web dashboard: queues, throughput, workers, tasks, dead letters.

    It binds 127.0.0.1 by default; any other address needs --auth or --token.
    """
    try:
        from qtasks import dashboard as web
    except ImportError as exc:
        raise click.UsageError(
            f"the dashboard needs its extra ({exc.name} is missing): "
            'pip install ".[dashboard]" from your checkout of qtasks'
        ) from None
    from qtasks.dashboard.security import Access, is_loopback

    try:
        access = Access.parse(auth, token)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if access.open and not is_loopback(host):
        raise click.UsageError(
            f"--host {host} would open the dashboard to anyone who reaches it: give "
            "--auth USER:PASSWORD or --token TOKEN (or bind 127.0.0.1)"
        )
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    console.print(Text(f"qtasks dashboard for {app.name}: http://{shown}:{port}/"))
    try:
        web.serve(app, host=host, port=port, auth=auth, token=token, log_level="warning")
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc}") from None
