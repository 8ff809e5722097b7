"""The one rule for names (app, task, queue), the same on every transport, checked in the
caller before anything is stored: non-empty text of at most :data:`MAX_NAME_LENGTH`
characters that UTF-8 can carry (no lone surrogate). Task and queue names hold no NUL
either (PostgreSQL's text columns cannot); an app name may (it is stored as bytes)."""

from __future__ import annotations

from qtasks.core.errors import ConfigurationError

#: Longest name, in characters: every transport indexes names, and PostgreSQL's indexes
#: take at most ~2.7 kB per entry (255 characters are at most 1,020 bytes of UTF-8).
MAX_NAME_LENGTH = 255


def check_name(kind: str, name: object, *, nul: bool = False) -> str:
    """``name`` if it is a valid ``kind`` name (``"task"``, ``"queue"``, ``"app"``), else
    ``ConfigurationError`` (a ``ValueError``) saying what is wrong."""
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"{kind} name must be a non-empty string, not {name!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise ConfigurationError(
            f"{kind} name may have at most {MAX_NAME_LENGTH} characters, "
            f"not {len(name)} ({name[:40]!r}...)"
        )
    if not name.isascii():
        try:
            name.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ConfigurationError(
                f"{kind} name {name!r} is not valid Unicode text: {exc}"
            ) from None
    if not nul and "\x00" in name:
        raise ConfigurationError(f"{kind} name {name!r} holds a NUL character")
    return name
