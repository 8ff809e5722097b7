"""The SQLite file's schema and statements (``sqlite.sql``), and opening a file: WAL, the
schema made or migrated in place, its version checked. Rows are read back as
:class:`~qtasks.core.records.StoredTask` here too."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from qtasks.brokers.sqlfile import load_queries
from qtasks.core.errors import BrokerError
from qtasks.core.records import StoredTask
from qtasks.core.status import TaskStatusEnum

_RAW = load_queries("qtasks.brokers", "sqlite.sql")
QUERIES = {
    name: sql.replace("{task_columns}", _RAW["task_columns"])
    .replace("{dead_filter}", _RAW["dead_filter"])
    .replace("{inspection_tables}", _RAW["inspection_tables"])
    .replace("{unique_table}", _RAW["unique_table"])
    for name, sql in _RAW.items()
}
#: The columns ``task_columns`` selects, which are StoredTask's field names.
_TASK_COLUMNS = tuple(column.strip() for column in _RAW["task_columns"].split(","))
#: Stamped in the file's ``user_version`` by the schema script.
SCHEMA_VERSION = 8
#: ``user_version`` -> the script that brings a file of that version to a later one.
_MIGRATIONS = {
    2: "migrate_2_to_3",
    3: "migrate_3_to_4",
    4: "migrate_4_to_5",
    5: "migrate_to_7",
    6: "migrate_to_7",  # 6: a development version, the view missing
    7: "migrate_7_to_8",
}
#: WAL size (pages) at which a committing connection checkpoints by itself.
_AUTOCHECKPOINT_PAGES = 10_000


def open_database(path: str, namespace: str, busy_timeout: float) -> sqlite3.Connection:
    """A connection to ``path`` with the current schema (made, or migrated in place: rows
    written before namespaces belong to ``namespace``); a file of a newer schema is refused."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise BrokerError(f"SQLite database directory does not exist: {directory}")
    conn = sqlite3.connect(
        path,
        timeout=busy_timeout,
        isolation_level=None,  # autocommit; batches open their own transaction
        check_same_thread=False,  # one loop uses it, but that loop may move threads
    )
    _use_wal(conn, busy_timeout)
    conn.execute("PRAGMA synchronous=NORMAL")
    # Checkpoints mostly happen in workers' housekeeping; this is the producers' backstop.
    conn.execute(f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT_PAGES}")
    if conn.execute(QUERIES["has_schema"]).fetchone() is None:
        # One transaction, so no other process sees the table before its version stamp.
        conn.executescript(f"BEGIN IMMEDIATE;\n{QUERIES['schema']}\nCOMMIT;")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    while version in _MIGRATIONS:
        conn.execute("BEGIN IMMEDIATE")  # one process migrates; the others see it done
        if conn.execute("PRAGMA user_version").fetchone()[0] == version:
            for statement in _statements(QUERIES[_MIGRATIONS[version]]):
                # rows written before belong to the upgrading app
                params = {"app": namespace, "now": time.time()}
                params = {k: v for k, v in params.items() if f":{k}" in statement}
                conn.execute(statement, params)
        conn.execute("COMMIT")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        conn.close()
        raise BrokerError(
            f"{path} holds qtasks schema version {version}, this qtasks needs "
            f"{SCHEMA_VERSION}: drain it with the qtasks that made it, or use a new file"
        )
    return conn


def _statements(script: str) -> list[str]:
    """The statements of ``script``, one by one (a trigger's body keeps its ``;``)."""
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending.strip())
            pending = ""
    return statements


def _use_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """Switch the file to WAL once; the switch ignores the busy timeout, so retry it."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal":
                return
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def stored_task(row: Sequence[Any]) -> StoredTask:
    fields = dict(zip(_TASK_COLUMNS, row, strict=True))
    fields["status"] = TaskStatusEnum(fields["status"])
    fields["worker_ids"] = tuple(json.loads(fields["worker_ids"])) if fields["worker_ids"] else ()
    return StoredTask(**fields)
