"""``manage.py qtasks_worker``: run a qtasks worker for a ``QTasksBackend``."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from qtasks.brokers.urls import display_url
from qtasks.contrib.django.compat import task_backends
from qtasks.core.errors import QTasksError


class Command(BaseCommand):  # type: ignore[misc]
    help = "Run a worker for Django tasks (and the QTasks tasks of the same app) until SIGTERM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--backend", default="default", help="TASKS alias (default: default)")
        parser.add_argument(
            "-Q",
            "--queue",
            dest="queues",
            action="append",
            default=None,
            help="queue to take tasks from; repeat for several (default: the backend's QUEUES)",
        )
        parser.add_argument(
            "-c", "--concurrency", type=int, default=None, help="tasks run at once (default 10)"
        )
        parser.add_argument(
            "--burst", action="store_true", help="exit once no task is due and none is running"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from qtasks.contrib.django.backend import QTasksBackend

        try:
            backend = task_backends()[options["backend"]]
        except Exception as exc:  # InvalidTaskBackend: no such alias
            raise CommandError(f"no TASKS backend {options['backend']!r}: {exc}") from exc
        if not isinstance(backend, QTasksBackend):
            raise CommandError(f"TASKS[{options['backend']!r}] is not a QTasksBackend")
        queues = options["queues"] or sorted(backend.queues)
        unknown = sorted(set(queues) - set(backend.queues)) if backend.queues else []
        if unknown:
            raise CommandError(f"queues not in TASKS[{backend.alias!r}]['QUEUES']: {unknown}")
        try:
            app = backend.app
            if not options["queues"]:  # by default, the app's own tasks' queues too
                queues = sorted({*queues, *app._default_queues()})
            worker = app.make_worker(
                queues=queues, concurrency=options["concurrency"], burst=options["burst"]
            )
            self.stdout.write(
                f"qtasks worker for TASKS[{backend.alias!r}] on {display_url(app.broker_url)}: "
                f"queues {', '.join(queues)}, concurrency {worker.options.concurrency}"
            )
            asyncio.run(worker.run())
        except QTasksError as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc
        # Like the CLI: sync tasks abandoned at shutdown may hold daemon threads.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
