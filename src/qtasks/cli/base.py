"""The ``qtasks`` command group: its options, loading the app only for the commands that
need it, and errors as one line (``--traceback`` for the whole story)."""

from __future__ import annotations

import asyncio
import functools
import uuid
import warnings
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import click
from rich.console import Console

from qtasks.app import AppCore
from qtasks.cli.loading import LOAD_FAILED, AppLoadError, load_app, print_traceback
from qtasks.config import UnknownSettingWarning
from qtasks.core.errors import QTasksError
from qtasks.logs import FORMATS
from qtasks.logs import configure as configure_logs
from qtasks.version import __version__

T = TypeVar("T")

#: Logs and notices go to stderr; stdout carries only what a command reports.
console = Console(stderr=True)

EXIT_STATUS = f"""\b
Exit status: 0 done; 1 the command failed (the broker could not be
reached, an unknown task id, ...); {LOAD_FAILED} bad usage, or the app given
with -A could not be loaded."""


@dataclass
class CliState:
    """The group's options, and the app once a command asked for it."""

    target: str | None
    log_level: str | None
    traceback: bool
    log_format: str = "rich"
    loaded: AppCore[Any] | None = None

    def app(self) -> AppCore[Any]:
        if self.loaded is not None:
            return self.loaded
        if not self.target:
            raise AppLoadError(
                "no app given: name it before the command, as in "
                "qtasks -A shop.tasks:app run (or set QTASKS_APP)"
            )
        try:
            with warnings.catch_warnings(record=True) as caught:
                app = load_app(self.target)
        except AppLoadError as exc:
            if self.traceback and exc.original is not None:
                print_traceback(exc.original)
                raise click.exceptions.Exit(exc.exit_code) from None
            raise
        finally:
            for w in caught:  # a misspelt QTASKS_* variable: one line, as the CLI's own
                if issubclass(w.category, UnknownSettingWarning):
                    warn(str(w.message))
                else:
                    warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        level = self.log_level.upper() if self.log_level else app.config.logs_default_level_server
        configure_logs(level, self.log_format, console.file)
        self.loaded = app
        return app


def pass_app(command: Callable[..., T]) -> Callable[..., T]:
    """Like ``click.pass_obj``, with the app: loaded now, so ``--help`` never needs it."""

    def with_app(*args: Any, **kwargs: Any) -> T:
        state = click.get_current_context().find_object(CliState)
        assert state is not None
        return command(state.app(), *args, **kwargs)

    return functools.update_wrapper(with_app, command)


@contextmanager
def clear_errors() -> Iterator[None]:
    """Configuration and broker errors are the user's to fix: one line, no traceback
    (unless ``--traceback``), exit status 1."""
    try:
        yield
    except QTasksError as exc:
        state = click.get_current_context().find_object(CliState)
        if state is not None and state.traceback:
            print_traceback(exc)
            raise click.exceptions.Exit(1) from None
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc


def run_client(app: AppCore[Any], call: Coroutine[Any, Any, T]) -> T:
    """Run one client call on a fresh loop and close the connection it opened (a pool
    left open keeps the process from exiting)."""

    async def closing() -> T:
        try:
            return await call
        finally:
            await app._client.close()

    return asyncio.run(closing())


def warn(message: str) -> None:
    """One warning line on stderr."""
    click.echo(f"warning: {message}", err=True)


def listed(queues: list[str]) -> str:
    """Queue names as a message lists them."""
    return ", ".join(repr(q) for q in queues)


def unknown_queues(app: AppCore[Any], queues: tuple[str, ...]) -> list[str]:
    """Those of ``queues`` that neither the app's tasks nor its default queue use."""
    known = set(app._default_queues())
    return [q for q in dict.fromkeys(queues) if q not in known]


def task_ids(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Check task ids (UUIDs, in any form ``uuid.UUID`` reads) and pass them on canonical:
    a typo is a usage error, not an id no task has."""
    if value is None:  # an optional id not given
        return None
    if isinstance(value, tuple):
        return tuple(task_ids(ctx, param, one) for one in value)
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a task id (a UUID, such as 0190a8e8-0000-7000-8000-000000000000)",
            ctx,
            param,
        ) from None


@click.group(epilog=EXIT_STATUS)
@click.option(
    "-A",
    "--app",
    "app_target",
    envvar="QTASKS_APP",
    metavar="MODULE:APP",
    help="Where the app is: module:attribute (a function returning it works too); "
    "default: $QTASKS_APP. Needed by every command.",
)
@click.option(
    "--log-level",
    default=None,
    help="Default: the app's logs_default_level_server (INFO).",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default="rich",
    show_default=True,
    help="How log lines are written on stderr: rich (a terminal), plain text, or json "
    "(one object per line, with the task's id, name, queue, attempt, duration, worker).",
)
@click.option(
    "--traceback",
    "show_traceback",
    is_flag=True,
    help="On an error, print the full traceback instead of one line.",
)
@click.version_option(__version__, "--version", prog_name="qtasks")
@click.pass_context
def main(
    ctx: click.Context,
    app_target: str | None,
    log_level: str | None,
    log_format: str,
    show_traceback: bool,
) -> None:
    """qtasks: run workers and inspect queues."""
    ctx.obj = CliState(
        target=app_target, log_level=log_level, traceback=show_traceback, log_format=log_format
    )
