"""What can go wrong with a SQLite file, said in one line: every ``sqlite3`` error of the
SQLite broker becomes a :class:`BrokerError` (or, for a value the file refuses, a
:class:`RefusedValueError`) naming the file and what to do; and a file deleted or
replaced under a running process is noticed."""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from qtasks.core.errors import BrokerError, QTasksError, RefusedValueError

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

#: sqlite3's message (lower case, start) -> what it means here.
_HINTS = {
    "attempt to write a readonly database": "the file is read-only (check its permissions)",
    "unable to open database file": (
        "it cannot be opened or created (the folder must be writable: SQLite keeps "
        "-wal and -shm files next to the database)"
    ),
    "file is not a database": "it is not a SQLite database (a wrong path, or a damaged file)",
    "database disk image is malformed": "the file is damaged (restore it, or start a new file)",
    "database or disk is full": "the disk is full",
    "disk i/o error": "the disk failed to read or write it",
    "database is locked": "another process held the file longer than busy_timeout",
}


def broker_error(path: str, exc: sqlite3.Error) -> QTasksError:
    """``exc`` as the error users see: one line, the file, the likely cause."""
    if isinstance(exc, (sqlite3.DataError, sqlite3.IntegrityError)):
        return RefusedValueError(f"SQLite at {path} refused a value: {exc}")
    message = str(exc)
    hint = next((h for key, h in _HINTS.items() if message.lower().startswith(key)), None)
    return BrokerError(f"SQLite at {path}: {hint or message} ({message})")


def translated(method: F) -> F:
    """A broker method whose ``sqlite3`` errors become :func:`broker_error`."""

    @functools.wraps(method)
    async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise broker_error(self.path, exc) from None

    return run  # type: ignore[return-value]


class FileIdentity:
    """Which file a connection opened, to notice it being deleted or replaced later."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._identity = self._read()

    def _read(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (stat.st_dev, stat.st_ino)

    def changed(self) -> str | None:
        """Why the open connection no longer reaches the file at ``path`` (``None``: it does)."""
        now = self._read()
        if now == self._identity:
            return None
        if now is None:
            return f"{self.path} was deleted while this process had it open"
        return f"{self.path} was replaced by another file while this process had it open"
