"""``qtasks dead``: list, show, requeue and purge dead letters."""

from __future__ import annotations

from typing import Any

import click

from qtasks.app import AppCore, dead_selection
from qtasks.cli.base import clear_errors, main, pass_app, run_client, task_ids
from qtasks.cli.screens import as_json, dead_table, stdout_console
from qtasks.core.records import DeadLetterQuery
from qtasks.core.result import Task


@main.group()
def dead() -> None:
    """Dead letters: tasks whose last run failed (list, show, requeue, purge)."""


@dead.command("list")
@click.option("--task", "task_name", default=None, help="Only this task name.")
@click.option("-Q", "--queue", default=None, help="Only this queue.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json_", is_flag=True, help="Print JSON instead of a table.")
@pass_app
def dead_list(
    app: AppCore[Any], task_name: str | None, queue: str | None, limit: int, as_json_: bool
) -> None:
    """The most recent dead letters, newest first."""
    with clear_errors():
        found = run_client(app, app._dead_letters(task_name, queue, limit))
    if as_json_:
        click.echo(as_json(found))
        return
    stdout_console().print(dead_table(found))
    click.echo(f"{len(found)} dead letter(s)" + (" shown" if len(found) == limit else ""))


@dead.command("show")
@click.argument("uuid", callback=task_ids)
@pass_app
def dead_show(app: AppCore[Any], uuid: str) -> None:
    """One dead letter in full: its call, attempts and traceback."""
    with clear_errors():
        found = run_client(app, _dead_one(app, uuid))
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
    """What to act on, said with the command's own option names when it is unclear."""
    if not uuids and task_name is None and not everything:
        raise click.UsageError("name the dead letters to act on: UUID..., --task NAME, or --all")
    if everything and (uuids or task_name is not None):
        raise click.UsageError(
            "--all acts on every dead letter: give it alone, without UUIDs or --task"
        )
    return dead_selection(uuids, task_name, everything)


_select_options = [
    click.argument("uuids", nargs=-1, callback=task_ids, metavar="[UUID]..."),
    click.option(
        "--task", "task_name", default=None, metavar="NAME", help="Every dead letter of this task."
    ),
    click.option("--all", "everything", is_flag=True, help="Every dead letter."),
]


def _selecting(command: Any) -> Any:
    for option in reversed(_select_options):
        command = option(command)
    return command


@dead.command("requeue")
@_selecting
@pass_app
def dead_requeue(
    app: AppCore[Any], uuids: tuple[str, ...], task_name: str | None, everything: bool
) -> None:
    """Put dead letters back in their queue (same uuid, attempts from zero).

    Name them: UUID..., --task NAME, or --all.
    """
    query = _selection(uuids, task_name, everything)
    with clear_errors():
        count = run_client(app, app._client.requeue_dead(query))
    click.echo(f"requeued {count} dead letter(s)")


@dead.command("purge")
@_selecting
@pass_app
def dead_purge(
    app: AppCore[Any], uuids: tuple[str, ...], task_name: str | None, everything: bool
) -> None:
    """Delete dead letters.

    Name them: UUID..., --task NAME, or --all.
    """
    query = _selection(uuids, task_name, everything)
    with clear_errors():
        count = run_client(app, app._client.purge_dead(query))
    click.echo(f"purged {count} dead letter(s)")
