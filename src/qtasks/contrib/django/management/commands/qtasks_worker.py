"""``manage.py qtasks_worker``: run a qtasks worker for a ``QTasksBackend`` (with
``--schedule``, it also fires the backend's schedules, ``OPTIONS["schedule"]``)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from qtasks.brokers.urls import display_url
from qtasks.contrib.django.compat import task_backends
from qtasks.core.errors import QTasksError


def _seconds(text: str) -> float:
    """``--wait-for-broker``'s value: seconds, not negative."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        raise argparse.ArgumentTypeError(f"expected seconds (a number >= 0), got {text!r}")
    return value


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
        parser.add_argument(
            "--schedule",
            action="store_true",
            help="also fire the backend's schedules (OPTIONS['schedule'] and its app's own): "
            "once per tick however many workers do",
        )
        parser.add_argument(
            "--wait-for-broker",
            type=_seconds,
            default=0.0,
            metavar="SECONDS",
            help="if the broker does not answer at start, retry for up to this long "
            "(default 0: fail at once, exit status 1)",
        )

    def check(self, *args: Any, **kwargs: Any) -> None:
        """Django's system checks, less the one that pings the broker (``qtasks.E003``):
        the worker checks its broker itself, with one line or ``--wait-for-broker``."""
        silenced = settings.SILENCED_SYSTEM_CHECKS
        settings.SILENCED_SYSTEM_CHECKS = [*silenced, "qtasks.E003"]
        try:
            super().check(*args, **kwargs)
        finally:
            settings.SILENCED_SYSTEM_CHECKS = silenced

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
            if options["schedule"] and not app.schedules:
                raise CommandError(
                    f"--schedule: TASKS[{backend.alias!r}] has no schedules: declare them in "
                    "its OPTIONS['schedule']"
                )
            worker = app.make_worker(
                queues=queues,
                concurrency=options["concurrency"],
                burst=options["burst"],
                schedule=options["schedule"],
            )
            url = display_url(app.broker_url)
            worker.broker_label = worker.broker_label or url
            fires = f", schedules {', '.join(app.schedules)}" if options["schedule"] else ""
            self.stdout.write(
                f"qtasks worker for TASKS[{backend.alias!r}] on {url}: "
                f"queues {', '.join(queues)}, concurrency {worker.options.concurrency}{fires}"
            )
            asyncio.run(worker.run(wait_for_broker=options["wait_for_broker"]))
        except QTasksError as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc
        # Like the CLI: sync tasks abandoned at shutdown may hold daemon threads.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
