"""What ``qtasks_status``, ``qtasks_dead`` and ``qtasks_cancel`` share: ``--backend``, the
backend's app, one client call per command on a loop of its own, errors as one line, and
rich renderings written through Django's ``self.stdout``.

(Django takes no command from a module whose name starts with an underscore.)
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Coroutine
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console, RenderableType

from qtasks.cli.base import run_client
from qtasks.contrib.django import lookups
from qtasks.core.errors import QTasksError

T = TypeVar("T")


class QTasksCommand(BaseCommand):  # type: ignore[misc]
    """A command on the qtasks app of one ``QTasksBackend`` (``--backend``)."""

    def add_arguments(self, parser: CommandParser) -> None:
        self.add_backend_argument(parser)

    def add_backend_argument(self, parser: Any) -> None:
        parser.add_argument(
            "--backend",
            default="default",
            metavar="ALIAS",
            help="TASKS alias of the QTasksBackend (default: default)",
        )

    def app_of(self, alias: str) -> Any:
        """The qtasks app behind ``TASKS[alias]``."""
        try:
            return lookups.backend_named(alias).app
        except (LookupError, ImproperlyConfigured, QTasksError) as exc:
            raise CommandError(str(exc)) from exc

    def call(self, app: Any, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on a fresh loop, its connection closed after; a broker or
        configuration error is one line (``CommandError``, exit status 1)."""
        try:
            return run_client(app, coro)
        except QTasksError as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc
        except ValueError as exc:  # an id that is not a UUID
            raise CommandError(str(exc)) from exc

    def show(self, renderable: RenderableType) -> None:
        """A rich table or screen on ``self.stdout`` (user data as plain text)."""
        out = io.StringIO()
        terminal = self.stdout.isatty()
        console = Console(
            file=out,
            # to a file or a pipe: wide enough that no id is ever wrapped
            width=shutil.get_terminal_size().columns if terminal else 1000,
            force_terminal=terminal,
            highlight=False,
        )
        console.print(renderable)
        self.stdout.write(out.getvalue(), ending="")
