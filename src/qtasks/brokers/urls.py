"""Choose a transport from a broker URL."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from qtasks.brokers.memory import MemoryBroker
from qtasks.brokers.sqlite import SQLiteBroker
from qtasks.core.broker import DEFAULT_NAMESPACE, Broker
from qtasks.core.errors import ConfigurationError, UnknownTransportError

#: Used when neither ``broker_url=`` nor ``QTASKS_BROKER_URL`` is given.
DEFAULT_URL = "sqlite:///qtasks.sqlite3"

BrokerFactory = Callable[[], Broker]


def _query_floats(query: str, allowed: set[str], url: str) -> dict[str, float]:
    options: dict[str, float] = {}
    for key, values in parse_qs(query).items():
        if key not in allowed:
            raise ConfigurationError(
                f"unknown option {key!r} in {url!r}; allowed: {', '.join(sorted(allowed))}"
            )
        try:
            options[key] = float(values[-1])
        except ValueError as exc:
            raise ConfigurationError(f"option {key!r} in {url!r} must be a number") from exc
    return options


def _sqlite(url: str, namespace: str) -> BrokerFactory:
    parts = urlsplit(url)
    if parts.netloc:
        raise ConfigurationError(
            f"{url!r}: write sqlite:///relative/path.db (three slashes) or "
            "sqlite:////absolute/path.db (four)"
        )
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path:
        path = "qtasks.sqlite3"
    if path == ":memory:":
        raise ConfigurationError(
            "an in-memory SQLite database is private to one connection; use memory:// instead"
        )
    path = os.path.abspath(path)
    options = _query_floats(parts.query, {"busy_timeout", "poll_max"}, url)
    return lambda: SQLiteBroker(path, namespace=namespace, **options)


def _memory(url: str, namespace: str) -> BrokerFactory:
    name = urlsplit(url).netloc or "default"
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


#: ``password=...`` in a libpq keyword string (``host=db password='s e c'``).
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


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


def broker_factory(url: str, namespace: str = DEFAULT_NAMESPACE) -> BrokerFactory:
    """A callable making broker instances for ``url`` (one per event loop), each serving
    the app namespace ``namespace`` (the app's name)."""
    scheme = urlsplit(url).scheme.lower()
    maker = _SCHEMES.get(scheme)
    if maker is None:
        raise UnknownTransportError(
            f"no transport for {scheme or display_url(url)!r} URLs; supported schemes: "
            + ", ".join(f"{s}://" for s in sorted(_SCHEMES))
        )
    return maker(url, namespace)
