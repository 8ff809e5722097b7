"""Finding the app ``-A module:attribute`` names, and saying in one line why it could not be.

A module that fails to import is the user's code failing: the message names what was
imported, the file and line where the error happened and the exception, never the
frames of the import machinery or of click. ``--traceback`` shows the whole of it.
"""

from __future__ import annotations

import importlib
import os
import sys
import sysconfig
import traceback
from pathlib import Path
from typing import Any

import click

import qtasks
from qtasks.app import AppCore

#: Exit status of every failure to find the app: the command never started (as a bad option).
LOAD_FAILED = 2

#: Files that are not the user's code: the standard library, installed packages, qtasks.
_LIBRARY_DIRS = tuple(
    str(Path(p).resolve())
    for p in {
        *(sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")),
        str(Path(qtasks.__file__).parent),
    }
)


class AppLoadError(click.ClickException):
    """The app given with ``-A`` could not be had; ``original`` is what was raised."""

    exit_code = LOAD_FAILED

    def __init__(self, message: str, original: BaseException | None = None) -> None:
        super().__init__(message)
        self.original = original


def load_app(target: str) -> AppCore[Any]:
    """Import ``module:attribute``; a callable attribute is called to get the app.

    Raises ``AppLoadError`` with one line saying what failed and where.
    """
    module_name, _, attribute = target.partition(":")
    attribute = attribute or "app"
    if not module_name or not all(part.isidentifier() for part in module_name.split(".")):
        hint = " (a module's dotted name, not a file path)" if "/" in module_name else ""
        raise AppLoadError(f"-A {target}: expected MODULE:APP, such as -A shop.tasks:app{hint}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: the project dir is importable
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):  # not a dependency
            raise AppLoadError(
                f"-A {target}: no module named {missing!r} "
                f"(looked in {os.getcwd()} and on PYTHONPATH)",
                exc,
            ) from exc
        raise AppLoadError(failure_line(f"importing {module_name}", exc), exc) from exc
    except (Exception, SystemExit) as exc:
        raise AppLoadError(failure_line(f"importing {module_name}", exc), exc) from exc
    obj: Any = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppLoadError(
                f"-A {target}: module {module_name} ({_shown(module.__file__)}) has no "
                f"attribute {attribute!r}{_apps_in(module)}"
            ) from None
    if not isinstance(obj, AppCore) and callable(obj):
        try:
            obj = obj()
        except (Exception, SystemExit) as exc:
            raise AppLoadError(failure_line(f"calling {target}", exc), exc) from exc
    if not isinstance(obj, AppCore):
        raise AppLoadError(
            f"-A {target}: an object of type {type(obj).__name__}, not a QueueTasks app"
            f"{_apps_in(module)}"
        )
    return obj


def failure_line(doing: str, exc: BaseException) -> str:
    """``<doing> failed at <file>:<line>: <Exception>: <message>``, on one line."""
    if isinstance(exc, SyntaxError):
        where = f"{_shown(exc.filename)}:{exc.lineno}" if exc.filename else None
        message = exc.msg
    else:
        where = _where(exc)
        message = str(exc)
    text = " ".join(f"{type(exc).__name__}: {message}".split()).removesuffix(":")
    return f"{doing} failed" + (f" at {where}" if where else "") + f": {text}"


def print_traceback(exc: BaseException) -> None:
    """The full traceback, for ``--traceback``."""
    traceback.print_exception(exc, file=sys.stderr)


def _where(exc: BaseException) -> str | None:
    """The line that raised, preferring the innermost frame of the user's own code (an
    error raised inside a library is reported where the user's code called it)."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith("<") and f.filename != __file__  # not the loader's call
    ]
    if not frames:
        return None
    own = [f for f in frames if not _is_library(f.filename)]
    frame = (own or frames)[-1]
    return f"{_shown(frame.filename)}:{frame.lineno}"


def _is_library(filename: str) -> bool:
    path = str(Path(filename).resolve())
    return any(path == d or path.startswith(d + os.sep) for d in _LIBRARY_DIRS)


def _shown(filename: str | None) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    if not filename:
        return "?"
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive (Windows)
        return filename
    return filename if relative.startswith("..") else relative


def _apps_in(module: Any) -> str:
    """``" (apps in it: app, other)"``, naming the apps the module does hold, if any."""
    found = sorted(name for name, value in vars(module).items() if isinstance(value, AppCore))
    return f" (apps in it: {', '.join(found)})" if found else ""
