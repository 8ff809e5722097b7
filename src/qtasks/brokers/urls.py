"""Choose a transport from a broker URL, and check the URL in full first.

Every URL is checked when the app is made, before any connection: the client libraries
accept many mistakes silently (redis-py reads ``redis:/host`` as localhost, database 0)
or only at the first command, and a worker would then serve the wrong queue. Each
mistake raises :class:`ConfigurationError` naming it and the form expected. The checks
every scheme shares are here; each transport's own are beside it (``redis_url.py``,
``postgres_url.py``).
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from qtasks.brokers.memory import MemoryBroker
from qtasks.brokers.sqlite import SQLiteBroker
from qtasks.core.broker import DEFAULT_NAMESPACE, Broker
from qtasks.core.errors import ConfigurationError, UnknownTransportError

#: Used when neither ``broker_url=`` nor ``QTASKS_BROKER_URL`` is given.
DEFAULT_URL = "sqlite:///qtasks.sqlite3"
#: The file of ``sqlite://`` (no path).
DEFAULT_SQLITE_FILE = "qtasks.sqlite3"

BrokerFactory = Callable[[], Broker]

#: How each scheme's URL is written, for error messages.
FORMS = {
    "sqlite": "sqlite:///relative/path.db or sqlite:////absolute/path.db",
    "memory": "memory://name",
    "redis": "redis://[[user]:password@]host[:port][/db]",
    "rediss": "rediss://[[user]:password@]host[:port][/db]",
    "redis+cluster": "redis+cluster://[[user]:password@]host[:port][,host[:port]...]",
    "rediss+cluster": "rediss+cluster://[[user]:password@]host[:port][,host[:port]...]",
    "redis+sentinel": (
        "redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service_name[/db]"
    ),
    "postgresql": "postgresql://[user[:password]@][host][:port][/dbname][?option=value&...]",
    "postgres": "postgres://[user[:password]@][host][:port][/dbname][?option=value&...]",
}

# shared checks ------------------------------------------------------------------------------

#: ``password=...`` in a libpq keyword string (``host=db password='s e c'``).
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
#: A query option whose name says it holds a secret, and its value.
_QUERY_SECRET = re.compile(r"((?:^|[?&])[^&=]*password[^&=]*=)[^&]*", re.IGNORECASE)


def shown(url: str) -> str:
    """``url`` as an error message shows it, whatever shape it is in: anything between the
    user name and the last ``@`` (the password) and every ``*password*`` option masked."""
    scheme, colon, rest = url.partition(":")
    if "://" not in url and "@" not in url:  # maybe a libpq keyword string
        return _KEYWORD_PASSWORD.sub(r"\1***", url)
    if not colon or "@" not in rest:
        return _QUERY_SECRET.sub(r"\1***", url)
    slashes = len(rest) - len(rest.lstrip("/"))
    userinfo, _, host = rest[slashes:].rpartition("@")
    user, has_password, _ = userinfo.partition(":")
    masked = f"{user}:***" if has_password else userinfo
    return _QUERY_SECRET.sub(r"\1***", f"{scheme}:{rest[:slashes]}{masked}@{host}")


def fail(url: str, problem: str) -> ConfigurationError:
    """The error for a URL with ``problem``, which names the mistake and the right form."""
    return ConfigurationError(f"broker URL {shown(url)!r}: {problem}")


def check_characters(url: str, scheme: str, *, spaces: bool) -> None:
    """No control character anywhere, no blank at either end, and (unless ``spaces``) no
    space inside: ``urllib`` silently drops tabs and newlines, libpq trailing blanks."""
    for position, char in enumerate(url):
        if ord(char) < 32 or ord(char) == 127:
            raise fail(url, f"control character {char!r} at position {position}: remove it")
    if url != url.strip():
        raise fail(url, "blank space at the start or end: remove it")
    if not spaces and " " in url:
        raise fail(url, f"a space is not allowed in a {scheme} URL: write it as %20")


def check_slashes(url: str, scheme: str) -> str:
    """What follows ``scheme://``; a URL without the two slashes is refused."""
    rest = url.partition(":")[2]
    if not rest.startswith("//"):
        raise fail(url, f"a {scheme} URL needs '//' after the scheme: {FORMS[scheme]}")
    return rest[2:]


def check_no_fragment(url: str, scheme: str) -> None:
    """No ``#``: urllib would cut the URL there (a fragment) and drop the rest unread."""
    if "#" not in url:
        return
    if scheme == "sqlite":
        raise fail(url, "a '#' cannot be in an SQLite path (it would end the URL): rename the file")
    if scheme == "memory":
        raise fail(url, "a '#' cannot be in a memory name (it would end the URL)")
    raise fail(url, "a '#' would end the URL there: write a '#' in a password as %23")


def check_port(url: str, text: str) -> int:
    """A port number, 1 to 65535."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise fail(url, f"port {text!r} is not a number from 1 to 65535")
    return int(text)


#: Reads one option's value; raises ``ValueError`` saying what the option takes.
OptionReader = Callable[[str], Any]


def number(*, minimum: float, integer: bool = False, above: bool = False) -> OptionReader:
    """A reader of finite numbers ``>= minimum`` (``> minimum`` with ``above``)."""
    kind = "a whole number" if integer else "a number"
    bound = f"{'>' if above else '>='} {minimum:g}"

    def read(text: str) -> float:
        try:
            value = float(int(text)) if integer else float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < minimum or (above and value == minimum):
            raise ValueError(f"takes {kind} {bound}")
        return value

    return read


def choice(*values: str) -> OptionReader:
    """A reader of one of ``values`` (as written)."""

    def read(text: str) -> str:
        if text not in values:
            raise ValueError(f"takes one of {', '.join(values)}")
        return text

    return read


def read_options(
    url: str, pairs: list[tuple[str, str]], allowed: Mapping[str, OptionReader], what: str
) -> dict[str, Any]:
    """Each option of ``pairs`` read by its reader of ``allowed``: an unknown option, one
    given twice or without a value, or a bad value is refused. ``what`` names the
    transport in messages."""
    options: dict[str, Any] = {}
    for key, value in pairs:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.8)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise fail(
                url,
                f"unknown option {key!r}{hint}; {what} URLs take: {', '.join(sorted(allowed))}",
            )
        if key in options:
            raise fail(url, f"option {key!r} is given twice")
        shown_value = "***" if "password" in key else repr(value)
        if value == "":
            raise fail(url, f"option {key!r} has no value")
        try:
            options[key] = allowed[key](value)
        except ValueError as exc:
            raise fail(url, f"option {key}={shown_value} {exc}") from None
    return options


def query_pairs(query: str) -> list[tuple[str, str]]:
    """The query's options, decoded as redis-py and SQLAlchemy decode them."""
    return parse_qsl(query, keep_blank_values=True)


# SQLite and memory --------------------------------------------------------------------------

_SQLITE_OPTIONS: dict[str, OptionReader] = {
    "busy_timeout": number(minimum=0),
    "poll_max": number(minimum=0, above=True),
}


def _sqlite_file(url: str) -> tuple[str, dict[str, float]]:
    """The absolute path of an ``sqlite://`` URL's file, and its options."""
    check_characters(url, "sqlite", spaces=True)
    check_slashes(url, "sqlite")
    check_no_fragment(url, "sqlite")
    parts = urlsplit(url)
    if parts.netloc:
        raise fail(
            url,
            "write sqlite:///relative/path.db (three slashes) or "
            "sqlite:////absolute/path.db (four); there is no host",
        )
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if path == ":memory:":
        raise fail(url, "an in-memory SQLite database is private to one connection; use memory://")
    path = os.path.abspath(path or DEFAULT_SQLITE_FILE)
    if (parts.path.endswith("/") and parts.path != "/") or os.path.isdir(path):
        raise fail(
            url,
            f"{path} is a directory; name the file in it: "
            f"sqlite:///{os.path.join(path, DEFAULT_SQLITE_FILE)}",
        )
    return path, read_options(url, query_pairs(parts.query), _SQLITE_OPTIONS, "sqlite")


def _sqlite(url: str, namespace: str) -> BrokerFactory:
    path, options = _sqlite_file(url)
    return lambda: SQLiteBroker(path, namespace=namespace, **options)


def _memory(url: str, namespace: str) -> BrokerFactory:
    check_characters(url, "memory", spaces=True)
    check_slashes(url, "memory")
    check_no_fragment(url, "memory")
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query or "?" in url:
        raise fail(url, "a memory URL is memory://name, with no path or options")
    name = parts.netloc or "default"
    return lambda: MemoryBroker(name, namespace=namespace)


def _redis(url: str, namespace: str) -> BrokerFactory:
    from qtasks.brokers.redis import RedisBroker, RedisTarget  # redis-py only when used

    RedisTarget.parse(url)  # a malformed URL fails here, when the app is made
    return lambda: RedisBroker(url, namespace=namespace)


def _postgres(url: str, namespace: str) -> BrokerFactory:
    from qtasks.brokers.postgres import PostgresBroker, PostgresSettings  # psycopg: only if used

    PostgresSettings.from_url(url)  # a malformed URL fails here, before any connection
    return lambda: PostgresBroker(url, namespace=namespace)


_SCHEMES: dict[str, Callable[[str, str], BrokerFactory]] = {
    "sqlite": _sqlite,
    "memory": _memory,
    "redis": _redis,
    "rediss": _redis,
    "redis+cluster": _redis,
    "rediss+cluster": _redis,
    "redis+sentinel": _redis,
    "postgresql": _postgres,
    "postgres": _postgres,
}


def display_url(url: str) -> str:
    """The broker URL as printed: passwords (in the address, an option, or a libpq
    keyword string given where a URL was expected) masked."""
    if "://" not in url:
        return _KEYWORD_PASSWORD.sub(r"\1***", url)
    parts = urlsplit(url)
    if parts.password is None and "password" not in parts.query.lower():
        return url  # (urlunsplit would also turn sqlite://// into sqlite://)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = urlencode(
        [(k, "***" if "password" in k.lower() else v) for k, v in parse_qsl(parts.query)],
        safe="*",
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def resolve_url(broker_url: str | None) -> str:
    """The URL in force: the argument, else ``QTASKS_BROKER_URL``, else the SQLite default."""
    return broker_url or os.environ.get("QTASKS_BROKER_URL") or DEFAULT_URL


def absolute_url(url: str) -> str:
    """``url`` with an SQLite file's path made absolute (against the working directory,
    now), so every display names the one file meant; other URLs as they are. A
    malformed SQLite URL raises :class:`ConfigurationError`."""
    if _scheme(url) != "sqlite":
        return url
    path, _ = _sqlite_file(url)
    query = urlsplit(url).query
    return f"sqlite:///{path}" + (f"?{query}" if query else "")


def _scheme(url: str) -> str:
    """The URL's scheme, refused unless it is one we serve, written in lower case."""
    scheme = url.partition(":")[0] if ":" in url else ""  # as written: urllib lowers it
    if scheme.strip().lower() in _SCHEMES:  # a blank before it, a newline after the URL
        check_characters(url, scheme.strip().lower(), spaces=True)
    if scheme.lower() in _SCHEMES and scheme != scheme.lower():
        raise fail(url, f"write the scheme in lower case: {scheme.lower()}://...")
    if scheme not in _SCHEMES:
        supported = ", ".join(f"{s}://" for s in sorted(_SCHEMES))
        if scheme and "://" in url:
            raise UnknownTransportError(
                f"no transport for {scheme!r} URLs; supported schemes: {supported}"
            )
        raise UnknownTransportError(
            f"{shown(url)!r} is not a broker URL: it starts with a scheme and '//' "
            f"(redis://host:port/db, sqlite:///path.db); supported schemes: {supported}"
        )
    return scheme


def broker_factory(url: str, namespace: str = DEFAULT_NAMESPACE) -> BrokerFactory:
    """A callable making broker instances for ``url`` (one per event loop), each serving
    the app namespace ``namespace`` (the app's name). The URL is checked in full here."""
    maker = _SCHEMES[_scheme(url)]
    try:
        return maker(url, namespace)
    except ConfigurationError:
        raise
    except ValueError as exc:  # urllib's own complaints (a bracket left open, ...)
        raise fail(url, f"cannot be read: {exc}; expected {FORMS[_scheme(url)]}") from None
