"""The PostgreSQL transport's SQL: its named statements, its schema versions, and the runner
that applies the migrations (``postgres.sql`` holds the text; ``postgres.py`` runs it).

Migrations are numbered: ``migration_<n>`` brings the schema to version n. A connecting
process reads the version (one query when it is current) and otherwise applies what is
missing in one transaction holding a transaction-scoped advisory lock, so any number of
processes may start at once and each step is applied once. Migration 3 made the app name
a namespace: rows written before it belong to the app whose process applies it, so that
statement takes the namespace (``{app}`` in its text, spelled as a hex-decoded literal,
since DDL takes no bind parameters). Migration 5 keys the task table by ``(app, id)`` and
adds the workers' records and the per-minute counts (``postgres_inspect.py`` reads them).
Migration 6 adds the unique keys (``postgres_unique.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from qtasks.brokers.sqlfile import load_queries
from qtasks.core.errors import BrokerError

log = logging.getLogger("qtasks.brokers.postgres")

QUERIES = load_queries("qtasks.brokers", "postgres.sql")
#: Migrations in the order they apply: ``(n, "migration_<n>")`` brings the schema to version n.
MIGRATIONS = sorted(
    (int(name.removeprefix("migration_")), name)
    for name in QUERIES
    if name.startswith("migration_")
)
SCHEMA_VERSION = MIGRATIONS[-1][0]

AsyncConn = psycopg.AsyncConnection[TupleRow]


def statements(schema: str) -> dict[str, str]:
    """The named queries for ``schema``, with the variants built from their fragments."""
    sql = {
        name: text.replace("{schema}", f'"{schema}"')
        .replace("{task_columns}", QUERIES["task_columns"])
        .replace("{dead_filter}", QUERIES["dead_filter"])
        .replace("{task_filter}", QUERIES["task_filter"])
        for name, text in QUERIES.items()
    }
    insert = sql["insert_tasks"]
    for form in ("rows_one", "rows_many"):
        enqueue = sql["enqueue"].replace("{insert_tasks}", insert).replace("{rows}", sql[form])
        sql[f"enqueue_{form}"] = enqueue.replace("{count}", "\n" + sql["count_enqueued"])
        sql[f"enqueue_uncounted_{form}"] = enqueue.replace("{count}", "")  # retry children
    unique = sql["enqueue_unique"].replace("{insert_tasks}", insert)
    sql["enqueue_unique"] = unique.replace("{count}", "\n" + sql["count_enqueued"])
    unflushed = sql["commit_without_flush"]
    sql["claim_alone"] = sql["claim"].replace("{commit_mode}", unflushed)
    sql["claim"] = sql["claim"].replace("{commit_mode}", sql["commit_with_flush"])
    sql["extend"] = sql["extend"].replace("{commit_mode}", unflushed)
    return sql


def app_key(namespace: str) -> bytes:
    """How the ``app`` column spells a namespace: its UTF-8 bytes (``bytea``), so any name
    is stored as it is, NUL included, whatever the database's encoding."""
    return namespace.encode("utf-8")


def _app_literal(namespace: str) -> str:
    """The namespace as an SQL expression for DDL: hex digits only, so nothing to escape,
    and the same under any ``standard_conforming_strings``. ``decode`` is immutable: as a
    column default it is evaluated once, by ``ADD COLUMN``, without rewriting the table."""
    return f"decode('{app_key(namespace).hex()}', 'hex')"


async def migrate(
    conn: AsyncConn,
    sql: Mapping[str, str],
    *,
    schema: str,
    namespace: str,
    location: str,
    target: int = SCHEMA_VERSION,
) -> list[int]:
    """Bring ``schema`` to version ``target`` (default: the newest), once, however many
    processes try at once; rows written before the namespaces (version 3) go to
    ``namespace``. Returns the versions this call applied (none: already there)."""
    table = f'"{schema}".qtasks_schema_version'
    if await schema_version(conn, sql, table, location) >= target:
        return []  # the common case: no lock taken
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute(sql["lock_for_migration"], {"key": f"qtasks.migrate.{schema}"})
        exists = await conn.execute(sql["schema_exists"], {"schema": schema})
        if not _first(await exists.fetchone()):
            await conn.execute(sql["create_schema"])
        await conn.execute(sql["create_version_table"])
        current = await schema_version(conn, sql, table, location)  # under the lock now
        for version, name in MIGRATIONS:
            if current < version <= target:
                log.info("applying qtasks schema migration %d", version)
                text = sql[name].replace("{app}", _app_literal(namespace))
                await conn.execute(text, prepare=False)
                await conn.execute(sql["record_version"], {"version": version})
                applied.append(version)
    return applied


async def schema_version(conn: AsyncConn, sql: Mapping[str, str], table: str, location: str) -> int:
    """The version ``table`` records (0: no table yet); a newer one than this qtasks knows
    raises :class:`BrokerError`."""
    found = await conn.execute(sql["version_table_exists"], {"table": table})
    if not _first(await found.fetchone()):
        return 0
    version = int(_first(await (await conn.execute(sql["schema_version"])).fetchone()))
    if version > SCHEMA_VERSION:
        raise BrokerError(
            f"PostgreSQL at {location} holds qtasks schema version {version}; "
            f"this qtasks knows up to {SCHEMA_VERSION}: upgrade qtasks"
        )
    return version


def _first(row: TupleRow | None) -> Any:
    return None if row is None else row[0]
