"""Redis broker URLs, checked in full without connecting, and split into what redis-py reads.

redis-py's own parser lets many mistakes through: ``redis:/host/0`` and ``redis://``
are localhost, a database path that is not a number is database 0 (``/0/1`` is 1), an
unknown option fails only when the first connection is made, and ``yes``-like flags it
does not know are true. Here each of those is a :class:`ConfigurationError`, raised when
the app is made. The URL handed to redis-py is the one written (one server), or one
rebuilt from it (a Cluster's first seed, a Sentinel's master options).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Self
from urllib.parse import urlencode, urlsplit, urlunsplit

from qtasks.brokers.urls import (
    FORMS,
    OptionReader,
    check_characters,
    check_no_fragment,
    check_port,
    check_slashes,
    choice,
    fail,
    number,
    query_pairs,
    read_options,
)
from qtasks.core.errors import ConfigurationError

Kind = Literal["server", "cluster", "sentinel"]

_KINDS: dict[str, Kind] = {
    "redis": "server",
    "rediss": "server",
    "redis+cluster": "cluster",
    "rediss+cluster": "cluster",
    "redis+sentinel": "sentinel",
}

_TRUE = {"1", "true", "yes", "t", "y"}
_FALSE = {"0", "false", "no", "f", "n"}


def _flag(text: str) -> bool:
    """A flag as redis-py reads it, minus the values it would silently read as true."""
    if text.lower() not in _TRUE | _FALSE:
        raise ValueError("takes true or false (or yes/no, 1/0)")
    return text.lower() in _TRUE


def _text(text: str) -> str:
    return text


def _tls_version(text: str) -> int:
    if text not in ("769", "770", "771", "772"):
        raise ValueError("takes a TLS version number: 771 (TLS 1.2) or 772 (TLS 1.3)")
    return int(text)


#: Options every Redis URL takes (redis-py's names; they reach its connections).
_COMMON: dict[str, OptionReader] = {
    "socket_timeout": number(minimum=0, above=True),
    "socket_connect_timeout": number(minimum=0, above=True),
    "socket_keepalive": _flag,
    "health_check_interval": number(minimum=0, integer=True),
    "max_connections": number(minimum=1, integer=True),
    "protocol": choice("2", "3"),
    "client_name": _text,
    "username": _text,
    "password": _text,
}
#: TLS options of ``rediss://`` and ``rediss+cluster://``.
_TLS: dict[str, OptionReader] = {
    "ssl_ca_certs": _text,
    "ssl_cert_reqs": choice("none", "optional", "required"),
    "ssl_check_hostname": _flag,
    "ssl_certfile": _text,
    "ssl_keyfile": _text,
    "ssl_min_version": _tls_version,
    "ssl_ciphers": _text,
}
#: Options each scheme takes (a Cluster client has no ``retry_on_timeout``, nor
#: ``ssl_ca_path`` / ``ssl_password``; a Sentinel URL has no TLS form).
_ALLOWED: dict[str, dict[str, OptionReader]] = {
    "redis": {**_COMMON, "db": number(minimum=0, integer=True), "retry_on_timeout": _flag},
    "rediss": {
        **_COMMON,
        **_TLS,
        "db": number(minimum=0, integer=True),
        "retry_on_timeout": _flag,
        "ssl_ca_path": _text,
        "ssl_password": _text,
    },
    "redis+cluster": dict(_COMMON),
    "rediss+cluster": {**_COMMON, **_TLS},
    "redis+sentinel": {
        **_COMMON,
        "retry_on_timeout": _flag,
        "sentinel_username": _text,
        "sentinel_password": _text,
    },
}

#: Query options of ``redis+sentinel://`` URLs meant for the Sentinels, not the master.
_SENTINEL_AUTH = {"sentinel_username": "username", "sentinel_password": "password"}


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisUrl:
    """What a Redis URL points at, parsed without connecting."""

    kind: Kind
    options_url: str
    """A one-host ``redis://``/``rediss://`` URL with the credentials, database and query
    options: redis-py reads the connection options from it."""
    hosts: tuple[tuple[str, int], ...] = ()
    """The server, the Cluster seed nodes or the Sentinels."""
    service: str = ""
    """The Sentinel service name."""
    sentinel_auth: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, url: str) -> Self:
        """Check the URL in full; raise ``ConfigurationError`` naming the mistake and the
        right spelling."""
        scheme = url.partition(":")[0]
        kind = _KINDS.get(scheme)
        if kind is None:
            raise ConfigurationError(f"no Redis transport for {scheme!r} URLs")
        check_characters(url, scheme, spaces=False)
        check_slashes(url, scheme)
        check_no_fragment(url, scheme)
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise fail(url, f"cannot be read: {exc}; expected {FORMS[scheme]}") from None
        userinfo, at, hostlist = parts.netloc.rpartition("@")
        default_port = 26379 if kind == "sentinel" else 6379
        if kind == "server" and "," in hostlist:
            raise fail(url, f"one server only (several hosts: {scheme}+cluster://...)")
        hosts = tuple(_host_port(url, h, default_port, scheme) for h in hostlist.split(","))
        pairs = query_pairs(parts.query)
        for key, _ in pairs:
            if key.startswith("ssl_") and key not in _ALLOWED[scheme]:
                if kind == "sentinel":
                    raise fail(url, f"option {key!r} is for TLS, which Sentinel URLs lack")
                if not scheme.startswith("rediss"):
                    raise fail(url, f"option {key!r} is for TLS: write rediss{scheme[5:]}://")
        options = read_options(url, pairs, _ALLOWED[scheme], scheme)
        if kind == "server":
            if _database(url, parts.path, scheme) is not None and "db" in options:
                raise fail(url, "the database is given twice (path and ?db=): give it once")
            return cls(kind="server", options_url=url, hosts=hosts)
        base = scheme.partition("+")[0]
        if kind == "cluster":
            if parts.path.strip("/") not in ("", "0") or parts.path.startswith("//"):
                raise fail(url, "a Redis Cluster has only database 0: remove the path")
            first = hostlist.split(",")[0]
            options_url = urlunsplit((base, userinfo + at + first, "", parts.query, ""))
            return cls(kind="cluster", options_url=options_url, hosts=hosts)
        service, db = _service(url, parts.path)
        auth = {_SENTINEL_AUTH[k]: v for k, v in pairs if k in _SENTINEL_AUTH}
        rest = urlencode([(k, v) for k, v in pairs if k not in _SENTINEL_AUTH])
        options_url = urlunsplit(("redis", userinfo + at + "sentinel", f"/{db}", rest, ""))
        return cls(
            kind="sentinel",
            options_url=options_url,
            hosts=hosts,
            service=service,
            sentinel_auth=auth,
        )


def _host_port(url: str, text: str, default_port: int, scheme: str) -> tuple[str, int]:
    """``host[:port]`` (an IPv6 address in brackets); the host may not be empty."""
    if text.startswith("["):
        host, bracket, after = text[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise fail(url, f"{text!r} is not host:port: write an IPv6 address as [::1]:6379")
        port = after[1:] if after else None
    elif text.count(":") > 1:
        raise fail(url, f"{text!r} is not host:port: write an IPv6 address as [::1]:6379")
    else:
        host, colon, port_text = text.partition(":")
        port = port_text if colon else None
    if not host:
        raise fail(
            url,
            f"{text!r} is not host:port: the host is missing (localhost for this machine); "
            + FORMS[scheme],
        )
    if port == "":
        raise fail(url, f"{text!r} is not host:port: a ':' with no port after it")
    return host, default_port if port is None else check_port(url, port)


def _database(url: str, path: str, scheme: str) -> int | None:
    """The database number of a one-server URL's path (``None``: no path)."""
    if path in ("", "/"):
        return None
    db = path[1:]
    if not db.isdigit():
        raise fail(
            url,
            f"the path is the database number, and {db!r} is not a whole number >= 0: "
            f"{FORMS[scheme]} (e.g. /0)",
        )
    return int(db)


def _service(url: str, path: str) -> tuple[str, int]:
    """A Sentinel URL's service name and database (``/service_name[/db]``)."""
    service, _, db = path[1:].partition("/") if path.startswith("/") else ("", "", "")
    if not service or not (db == "" or db.isdigit()):
        raise fail(
            url,
            "a Sentinel URL names the service after the hosts: redis+sentinel://"
            "[user:password@]host:port[,host:port...]/service_name[/db] "
            "(db a whole number >= 0)",
        )
    return service, int(db or 0)
