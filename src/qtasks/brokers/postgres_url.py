"""PostgreSQL broker URLs: qtasks' own options split off, the rest checked and left to libpq.

libpq reads the URL, but it accepts some mistakes until the first connection (a port
``abc``, ``sslmode=bogus``) and others silently (a blank after the database name, a
database name with a ``/``). Each is a :class:`ConfigurationError` when the app is made.
A ``#`` is literal to libpq (in a password or a database name), so it stays.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from qtasks.brokers.urls import (
    FORMS,
    check_characters,
    check_port,
    check_slashes,
    choice,
    fail,
    number,
)
from qtasks.core.errors import ConfigurationError

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PostgresSettings:
    """A PostgreSQL broker URL, split into what libpq reads and qtasks' own options."""

    conninfo: str
    """The URL without qtasks' options: handed to libpq as it is."""
    schema: str = "public"
    listen: bool = True
    poll_max: float = 0.5
    pool_max: int = 4
    prepare: bool = True
    location: str = ""
    """``host:port/dbname``, for messages: never the password."""
    password: str = ""
    unverified_tls: str | None = None
    """Why the server's certificate is not checked, for a host that is not this machine
    (libpq's default ``sslmode=prefer`` and ``require`` encrypt without verifying)."""

    @classmethod
    def from_url(cls, url: str) -> PostgresSettings:
        """Parse and check ``url``; a malformed one raises :class:`ConfigurationError`."""
        scheme = url.partition(":")[0]
        if scheme not in ("postgresql", "postgres"):
            raise ConfigurationError(f"no PostgreSQL transport for {scheme!r} URLs")
        check_characters(url, scheme, spaces=False)
        after = check_slashes(url, scheme)
        base, _, query = url.partition("?")
        authority, _, path = after.partition("?")[0].partition("/")
        userinfo, _, hostlist = authority.rpartition("@")
        raw_password = userinfo.partition(":")[2]
        _check_hosts(url, hostlist)
        if "/" in path:
            raise fail(
                url, f"the path is the database name, and {path!r} has a '/': {FORMS[scheme]}"
            )
        ours: dict[str, Any] = {}
        theirs: list[str] = []  # kept as written: libpq decodes %XX itself, but not "+"
        seen: set[str] = set()
        for item in filter(None, query.split("&")):
            key, _, value = (unquote(part) for part in item.partition("="))
            if key in seen:
                raise fail(url, f"option {key!r} is given twice")
            seen.add(key)
            if key in _OPTIONS:
                ours[key] = _read_own(url, key, value)
            else:
                _check_libpq_option(url, key)
                theirs.append(item)
        # rebuilt by hand: urlunsplit drops the "//" of an empty host (postgresql:///app)
        conninfo = base + ("?" + "&".join(theirs) if theirs else "")
        try:
            params = conninfo_to_dict(conninfo)
        except psycopg.ProgrammingError as exc:
            text = _scrub(_scrub(str(exc).strip(), raw_password), unquote(raw_password))
            raise fail(url, f"invalid PostgreSQL URL: {text}") from None
        _check_libpq_values(url, params)
        host = str(params.get("host") or "localhost")
        location = f"{host}:{params.get('port') or 5432}/{params.get('dbname') or ''}"
        return cls(
            conninfo=conninfo,
            location=location,
            password=str(params.get("password") or ""),
            unverified_tls=_unverified_tls(host, str(params.get("sslmode") or "prefer")),
            **ours,
        )

    def scrub(self, text: str) -> str:
        return _scrub(text, self.password)


def _check_hosts(url: str, hostlist: str) -> None:
    """Each ``host[:port]`` of the address (all may be empty: libpq's default socket)."""
    for entry in hostlist.split(",") if hostlist else ():
        port = entry.rpartition("]")[2] if entry.startswith("[") else entry
        if ":" in port:
            _, _, digits = port.rpartition(":")
            if digits == "":
                raise fail(url, f"{entry!r}: a ':' with no port after it")
            check_port(url, digits)


def _read_own(url: str, key: str, value: str) -> Any:
    try:
        return _OPTIONS[key](value)
    except ValueError as exc:
        raise fail(url, f"option {key}={value!r} {exc}") from None


@functools.cache
def _libpq_keywords() -> frozenset[str]:
    """Every connection parameter this libpq knows (``ssl`` is its URI-only alias)."""
    return frozenset(o.keyword.decode() for o in pq.Conninfo.get_defaults()) | {"ssl"}


def _check_libpq_option(url: str, key: str) -> None:
    if key in _libpq_keywords():
        return
    close = difflib.get_close_matches(key, [*_OPTIONS, *_libpq_keywords()], n=1, cutoff=0.8)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise fail(
        url,
        f"unknown option {key!r}{hint}; qtasks' options are {', '.join(sorted(_OPTIONS))}, "
        "any other must be a libpq connection parameter (sslmode, connect_timeout, "
        "application_name, options, target_session_attrs, ...)",
    )


#: libpq parameters whose values it checks only when connecting: checked here instead.
_LIBPQ_VALUES: dict[str, Callable[[str], Any]] = {
    "sslmode": choice("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "gssencmode": choice("disable", "prefer", "require"),
    "channel_binding": choice("disable", "prefer", "require"),
    "target_session_attrs": choice(
        "any", "read-write", "read-only", "primary", "standby", "prefer-standby"
    ),
    "load_balance_hosts": choice("disable", "random"),
    "keepalives": choice("0", "1"),
    "connect_timeout": number(minimum=0, integer=True),
    "keepalives_idle": number(minimum=0, integer=True),
    "keepalives_interval": number(minimum=0, integer=True),
    "keepalives_count": number(minimum=0, integer=True),
    "tcp_user_timeout": number(minimum=0, integer=True),
}


def _check_libpq_values(url: str, params: dict[str, Any]) -> None:
    for port in str(params.get("port") or "").split(","):
        if port:
            check_port(url, port)
    for key, read in _LIBPQ_VALUES.items():
        value = params.get(key)
        if value is None:
            continue
        try:
            read(str(value))
        except ValueError as exc:
            raise fail(url, f"option {key}={value!r} {exc}") from None


def _unverified_tls(hosts: str, sslmode: str) -> str | None:
    """A warning for a connection to another machine whose certificate libpq will not
    verify (``None`` for loopback, a Unix socket, or ``verify-ca`` / ``verify-full``)."""
    if sslmode in ("verify-ca", "verify-full"):
        return None
    remote = [
        h
        for h in hosts.split(",")
        if h
        and not h.startswith("/")
        and h not in ("localhost", "::1")
        and not h.startswith("127.")
    ]
    if not remote:
        return None
    return (
        f"sslmode={sslmode} does not verify the server's certificate, so a machine between "
        f"here and {', '.join(remote)} can read and change the queue's traffic; add "
        "sslmode=verify-full (and sslrootcert=...) to the URL"
    )


def _scrub(text: str, password: str) -> str:
    return text.replace(password, "***") if password else text


def _flag(value: str) -> bool:
    if value not in ("0", "1"):
        raise ValueError("takes 0 or 1")
    return value == "1"


def _schema_name(value: str) -> str:
    if not _SCHEMA_NAME.fullmatch(value):
        raise ValueError(
            "is not a schema name: use letters, digits and _ (at most 63, not starting with "
            "a digit)"
        )
    return value


#: qtasks' own URL options and how each is read; libpq never sees them.
_OPTIONS: dict[str, Callable[[str], Any]] = {
    "schema": _schema_name,
    "listen": _flag,
    "prepare": _flag,
    "poll_max": number(minimum=0, above=True),
    "pool_max": lambda value: int(number(minimum=1, integer=True)(value)),
}
