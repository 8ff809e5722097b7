"""``manage.py qtasks_dead list|show|requeue|purge``: the dead letters of a ``QTasksBackend``
(tasks whose last run failed), by Django result id or qtasks uuid.

A task that failed after retries has its dead letter under its *last* attempt's uuid;
``show``, ``requeue`` and ``purge`` take that uuid, any other attempt's, or the Django
result id ``.enqueue()`` returned, and act on the last attempt.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from rich.table import Table
from rich.text import Text

from qtasks.app import dead_selection
from qtasks.cli.screens import as_json, error_line, task_detail
from qtasks.contrib.django import lookups
from qtasks.contrib.django.management.commands._base import QTasksCommand
from qtasks.core.records import DeadLetterQuery
from qtasks.core.status import TaskStatusEnum
from qtasks.monitor import AsyncMonitor, TaskDetail, jsonable


class Command(QTasksCommand):
    help = "Dead letters of a QTasksBackend: list, show, requeue, purge."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        listing = actions.add_parser("list", help="the most recent dead letters, newest first")
        listing.add_argument(
            "--task", dest="task_name", default=None, metavar="NAME", help="only this task"
        )
        listing.add_argument("-Q", "--queue", default=None, help="only this queue")
        listing.add_argument("--limit", type=int, default=50, help="at most this many (50)")
        listing.add_argument("--json", action="store_true", help="print JSON")
        show = actions.add_parser("show", help="one dead letter in full")
        show.add_argument("id", metavar="ID", help="Django result id or qtasks uuid")
        for name, text in (
            ("requeue", "put dead letters back in their queue (same uuid)"),
            ("purge", "delete dead letters"),
        ):
            act = actions.add_parser(name, help=f"{text}: IDs, --task NAME, or --all")
            act.add_argument("ids", nargs="*", metavar="ID", help="Django result id or uuid")
            act.add_argument(
                "--task", dest="task_name", default=None, metavar="NAME", help="every one of a task"
            )
            act.add_argument("--all", dest="everything", action="store_true", help="every one")
        for subcommand in actions.choices.values():
            self.add_backend_argument(subcommand)

    def handle(self, *args: Any, **options: Any) -> None:
        app = self.app_of(options["backend"])
        action = options["action"]
        if action == "list":
            self._list(app, options)
        elif action == "show":
            self._show(app, options["id"])
        else:
            self._act(app, action, options["ids"], options["task_name"], options["everything"])

    def _list(self, app: Any, options: dict[str, Any]) -> None:
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        found = self.call(
            app,
            lookups.dead_letters(
                app, task_name=options["task_name"], queue=options["queue"], limit=options["limit"]
            ),
        )
        if options["json"]:
            self.stdout.write(
                as_json([{"django_id": d.django_id, **jsonable(d.task)} for d in found])
            )
            return
        table = Table("django result id", "uuid", "task", "queue", "failed at", "error", box=None)
        for dead in found:
            task = dead.task
            failed = task.finished_at.isoformat(timespec="seconds") if task.finished_at else ""
            cells = (dead.django_id, str(task.uuid), task.task_name, task.queue, failed)
            table.add_row(*(Text(c) for c in (*cells, error_line(task))))  # never markup
        self.show(table)
        shown = " shown" if len(found) == options["limit"] else ""
        self.stdout.write(f"{len(found)} dead letter(s){shown}")

    def _show(self, app: Any, ident: str) -> None:
        async def find() -> tuple[str, TaskDetail] | None:
            located = await lookups.locate(app, ident)
            if located is None or located.last.status != TaskStatusEnum.ERROR.value:
                return None
            detail = located.detail
            if located.last.uuid != detail.task.uuid:  # the dead letter itself, in full
                detail = await AsyncMonitor(app).task(located.last.uuid) or detail
            return located.django_id, detail

        found = self.call(app, find())
        if found is None:
            raise CommandError(f"no dead letter {ident}")
        django_id, detail = found
        self.stdout.write(f"Django result id: {django_id}")
        self.show(task_detail(detail))

    def _act(
        self, app: Any, action: str, idents: list[str], task_name: str | None, everything: bool
    ) -> None:
        if not idents and task_name is None and not everything:
            raise CommandError("name the dead letters to act on: ID..., --task NAME, or --all")
        if everything and (idents or task_name is not None):
            raise CommandError(
                "--all acts on every dead letter: give it alone, without IDs or --task"
            )

        async def act() -> tuple[int | None, list[str]]:
            found, unknown = await lookups.last_attempts(app, idents)
            if idents and not found:
                return None, unknown  # none of the ids is a task
            query: DeadLetterQuery = dead_selection(found, task_name, everything)
            if action == "requeue":
                return await app._client.requeue_dead(query), unknown
            return await app._client.purge_dead(query), unknown

        count, unknown = self.call(app, act())
        missing = ", ".join(unknown)
        if count is None:
            raise CommandError(f"no task {missing} (unknown, or its record expired)")
        if unknown:
            self.stderr.write(f"no task {missing} (unknown, or its record expired)")
        verb = "requeued" if action == "requeue" else "purged"
        self.stdout.write(f"{verb} {count} dead letter(s)")
