"""``manage.py qtasks_schedule list [--json]``: the schedules of a ``QTasksBackend``
(``OPTIONS["schedule"]``, and those of its app's own), as ``qtasks schedule list`` shows
them: each one's task, trigger, next fire, last fire and the last run's status."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandParser

from qtasks.cli.schedule import schedule_table
from qtasks.contrib.django.management.commands._base import QTasksCommand
from qtasks.schedule.listing import schedule_states


class Command(QTasksCommand):
    help = "The schedules of a QTasksBackend: list (next fire, last fire, last run's status)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        listing = actions.add_parser(
            "list", help="each schedule: task, trigger, next fire, last fire, last run"
        )
        listing.add_argument("--json", action="store_true", help="print JSON")
        self.add_backend_argument(listing)

    def handle(self, *args: Any, **options: Any) -> None:
        app = self.app_of(options["backend"])
        states = self.call(app, schedule_states(app))
        if options["json"]:
            self.stdout.write(json.dumps([s.as_dict() for s in states], indent=2))
            return
        if not states:
            self.stdout.write(
                f"TASKS[{options['backend']!r}] has no schedules (OPTIONS['schedule'])"
            )
            return
        self.show(schedule_table(states))
