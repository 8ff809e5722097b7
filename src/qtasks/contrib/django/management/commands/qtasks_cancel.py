"""``manage.py qtasks_cancel ID``: cancel a task of a ``QTasksBackend`` by its Django result id
(or any attempt's qtasks uuid): a waiting task never runs, a running one is asked to stop.
After retries the attempt cancelled is the last one (the one waiting or running)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from qtasks.contrib.django import lookups
from qtasks.contrib.django.management.commands._base import QTasksCommand
from qtasks.core.records import CancelState


class Command(QTasksCommand):
    help = "Cancel a task by its Django result id (or qtasks uuid)."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("id", metavar="ID", help="Django result id or qtasks uuid")
        parser.add_argument("--reason", default="", help="stored with the cancelled task")

    def handle(self, *args: Any, **options: Any) -> None:
        app = self.app_of(options["backend"])
        ident = options["id"]
        reason = options["reason"] or "cancelled with manage.py qtasks_cancel"

        async def cancel() -> tuple[str, CancelState] | None:
            located = await lookups.locate(app, ident)
            if located is None:
                return None
            last = str(located.last.uuid)
            return last, await app._cancel(last, reason)

        done = self.call(app, cancel())
        if done is None or done[1] is CancelState.UNKNOWN:
            raise CommandError(f"no task {ident} (unknown, or its record expired)")
        uuid, state = done
        self.stdout.write(f"{uuid}: {state.value}")
