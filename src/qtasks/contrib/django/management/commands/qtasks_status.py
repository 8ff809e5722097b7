"""``manage.py qtasks_status [--watch]``: queues, workers and recent failures of a
``QTasksBackend``, the screen of ``qtasks status --watch``."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from django.core.management.base import CommandError, CommandParser

from qtasks.brokers.urls import display_url
from qtasks.cli.screens import as_json, overview_screen
from qtasks.contrib.django.management.commands._base import QTasksCommand
from qtasks.core.errors import QTasksError
from qtasks.monitor import AsyncMonitor


def _positive(kind: type, minimum: float) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value >= minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {text!r}")
        return value

    return parse


class Command(QTasksCommand):
    help = (
        "Queues (depth, throughput, failure rate), workers and recent failures of a "
        "QTasksBackend; --watch refreshes the screen until Ctrl-C."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--watch", action="store_true", help="a live screen until Ctrl-C")
        parser.add_argument(
            "--interval",
            type=_positive(float, 0.1),
            default=1.0,
            help="seconds between refreshes of --watch (default 1)",
        )
        parser.add_argument(
            "--count",
            type=_positive(int, 1),
            default=None,
            help="with --watch: stop after this many refreshes (default: until Ctrl-C)",
        )
        parser.add_argument("--json", action="store_true", help="print one snapshot as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        app = self.app_of(options["backend"])
        if options["watch"]:
            if options["json"]:
                raise CommandError("--watch is a screen; --json prints one snapshot: pick one")
            from qtasks.cli.monitor import live_screen  # the CLI's own live screen

            try:
                asyncio.run(live_screen(app, options["interval"], options["count"]))
            except KeyboardInterrupt:
                pass
            except QTasksError as exc:
                raise CommandError(f"{type(exc).__name__}: {exc}") from exc
            return
        overview = self.call(app, AsyncMonitor(app).overview())
        if options["json"]:
            self.stdout.write(as_json(overview))
            return
        self.show(overview_screen(overview, app.name, display_url(app.broker_url)))
