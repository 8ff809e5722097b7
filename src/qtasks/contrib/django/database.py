"""``django://<alias>`` broker URLs: the queue lives in one of Django's own PostgreSQL
databases, and enqueues can join the caller's transaction.

``OPTIONS: {"broker_url": "django://default"}`` makes the backend's qtasks app (and its
``qtasks_worker``) use the PostgreSQL transport on the database ``DATABASES["default"]``
describes: no second server, no second set of credentials. Query options after the alias
are the PostgreSQL transport's own (``django://default?schema=queues``).

Enqueues from sync code then run the transport's INSERT on Django's connection of that
alias, so inside ``transaction.atomic()`` (with ``enqueue_on_commit`` False) the task is
part of the caller's transaction: it exists, and wakes a worker, only if that commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from qtasks.core.envelope import Envelope
from qtasks.core.errors import ConfigurationError

SCHEME = "django://"
#: Keys of a database's OPTIONS that libpq takes as they are.
_LIBPQ_OPTIONS = {
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
    "application_name",
    "options",
    "target_session_attrs",
}


def database_alias(broker_url: str | None) -> str | None:
    """The Django database alias of a ``django://`` URL, else ``None``."""
    if not broker_url or not broker_url.startswith(SCHEME):
        return None
    return urlsplit(broker_url).netloc or "default"


def resolve_broker_url(broker_url: str | None) -> str | None:
    """``django://alias[?options]`` as the ``postgresql://`` URL of that database."""
    alias = database_alias(broker_url)
    if alias is None or broker_url is None:
        return broker_url
    from django.conf import settings

    database: dict[str, Any] | None = settings.DATABASES.get(alias)
    if database is None:
        raise ConfigurationError(f"{broker_url!r}: Django has no database {alias!r}")
    engine = str(database.get("ENGINE", ""))
    if "postgresql" not in engine:
        raise ConfigurationError(
            f"{broker_url!r}: the queue needs PostgreSQL, and database {alias!r} uses {engine}"
        )
    user = quote(str(database.get("USER") or ""), safe="")
    password = quote(str(database.get("PASSWORD") or ""), safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = str(database.get("HOST") or "")
    port = f":{database['PORT']}" if database.get("PORT") else ""
    query = {
        key: str(value)
        for key, value in (database.get("OPTIONS") or {}).items()
        if key in _LIBPQ_OPTIONS
    }
    if host.startswith("/"):  # a Unix socket directory
        query["host"], host = host, ""
    extra = urlsplit(broker_url).query
    options = "&".join(part for part in (urlencode(query), extra) if part)
    name = quote(str(database.get("NAME") or ""), safe="")
    return f"postgresql://{credentials}{host}{port}/{name}" + (f"?{options}" if options else "")


def enqueue_on_django_connection(alias: str, broker: Any, envelopes: Sequence[Envelope]) -> None:
    """Run the transport's enqueue statement on Django's connection ``alias`` (joining its
    transaction, if one is open)."""
    from django.db import connections

    statement, params = broker.enqueue_statement(envelopes)
    with connections[alias].cursor() as cursor:
        cursor.execute(statement, params)
