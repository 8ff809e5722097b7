"""``qtasks stats inspect app|task NAME|tasks [NAME...]``: QTasks' Stats from the shell."""

from __future__ import annotations

from typing import Any

import click

from qtasks.app import AppCore
from qtasks.cli.base import main, pass_app
from qtasks.stats.inspect import InspectStats

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@main.group()
def stats() -> None:
    """What the app is made of (QTasks' Stats): no broker connection needed."""


@stats.command("inspect", context_settings={"ignore_unknown_options": True})
@click.argument("target", type=click.Choice(["app", "task", "tasks"]))
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of aligned text.")
@pass_app
def inspect_command(app: AppCore[Any], target: str, names: tuple[str, ...], as_json: bool) -> None:
    """app: the app; task NAME: one task; tasks [NAME...]: every task, or those named.

    QTasks' form `json=true` works as well as --json.
    """
    rest = []
    for word in names:
        key, sep, value = word.partition("=")
        if sep and key == "json":
            if value.lower() not in _TRUE | _FALSE:
                raise click.BadParameter(f"{word!r}: expected json=true or json=false")
            as_json = value.lower() in _TRUE
        else:
            rest.append(word)
    inspected = InspectStats(app)
    try:
        if target == "app":
            if rest:
                raise click.UsageError(f"stats inspect app takes no names, got {rest[0]!r}")
            click.echo(inspected.app(json=as_json))
        elif target == "task":
            if len(rest) != 1:
                raise click.UsageError("stats inspect task takes one task name")
            click.echo(inspected.task(rest[0], json=as_json))
        else:
            click.echo(inspected.tasks(*rest, json=as_json))
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None
