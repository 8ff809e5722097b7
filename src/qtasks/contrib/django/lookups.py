"""What qtasks' admin pages and management commands act on: the project's ``QTasksBackend``s,
and a task by its Django result id or by the qtasks uuid of any of its attempts.

A Django result id is the id of the first attempt of a retry chain; every retry is a task
of its own (linked by ``retry_child``), so the dead letter of a task that failed after
retries carries the *last* attempt's uuid. :func:`locate` follows the chain either way:
given either id it returns the whole chain, the Django id and the last attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qtasks.contrib.django import compat
from qtasks.core.envelope import decode_envelope
from qtasks.core.errors import MessageDecodeError
from qtasks.core.records import DeadLetterQuery, StoredTask
from qtasks.core.result import Task, record_from_stored
from qtasks.monitor import AsyncMonitor, TaskDetail
from qtasks.worker.retries import root_id

if TYPE_CHECKING:
    from qtasks.contrib.django.backend import QTasksBackend


def qtasks_backends() -> dict[str, QTasksBackend]:
    """Every ``TASKS`` backend that is a ``QTasksBackend``, by alias, in settings order."""
    from qtasks.contrib.django.backend import QTasksBackend

    handler = compat.task_backends()
    found: dict[str, QTasksBackend] = {}
    for alias in handler:
        try:
            backend = handler[alias]
        except Exception:  # a backend Django cannot load (its own check reports it)
            continue
        if isinstance(backend, QTasksBackend):
            found[alias] = backend
    return found


def backend_named(alias: str) -> QTasksBackend:
    """The ``QTasksBackend`` of ``alias``; ``LookupError`` (with the reason) otherwise."""
    backends = qtasks_backends()
    if alias not in backends:
        known = ", ".join(backends) or "none"
        raise LookupError(f"no QTasksBackend TASKS[{alias!r}] (QTasksBackend aliases: {known})")
    return backends[alias]


def django_id(stored: StoredTask) -> str:
    """The Django result id of a record: its chain's first attempt (read from its message)."""
    try:
        return root_id(decode_envelope(stored.body))
    except MessageDecodeError:
        return stored.id


@dataclass(frozen=True, slots=True)
class Located:
    """A task found by any id of its retry chain."""

    detail: TaskDetail
    """The task asked for, with its whole chain."""
    django_id: str
    """The id ``.enqueue()`` returned (the chain's first attempt)."""

    @property
    def last(self) -> Task:
        """The last attempt: the one that runs, waits, or is the dead letter."""
        return self.detail.chain[-1]

    @property
    def first(self) -> Task:
        return self.detail.chain[0]


async def locate(app: Any, ident: object) -> Located | None:
    """The task whose Django result id or qtasks uuid is ``ident``; ``None`` if unknown or
    expired. ``ValueError`` when ``ident`` is not a task id (a UUID)."""
    detail = await AsyncMonitor(app).task(ident)
    if detail is None:
        return None
    first = detail.chain[0]
    if first.retry_parent_uuid is None:
        return Located(detail, str(first.uuid))
    # The first attempts expired before the last: the message still names the first.
    stored = await app._client.get(str(first.uuid))
    return Located(detail, str(first.uuid) if stored is None else django_id(stored))


async def last_attempts(app: Any, idents: list[str]) -> tuple[list[str], list[str]]:
    """The last attempt's uuid of each id (a Django result id or any attempt's uuid), and
    the ids no task has."""
    found: list[str] = []
    unknown: list[str] = []
    for ident in idents:
        located = await locate(app, ident)
        if located is None:
            unknown.append(ident)
        elif str(located.last.uuid) not in found:
            found.append(str(located.last.uuid))
    return found, unknown


@dataclass(frozen=True, slots=True)
class DeadLetter:
    task: Task
    django_id: str


async def dead_letters(
    app: Any, *, task_name: str | None = None, queue: str | None = None, limit: int = 100
) -> list[DeadLetter]:
    """The most recent dead letters, newest first, each with its Django result id."""
    query = DeadLetterQuery(
        task_name=task_name, queues=None if queue is None else (queue,), limit=limit
    )
    return [
        DeadLetter(record_from_stored(s, app), django_id(s))
        for s in await app._client.dead_letters(query)
    ]


async def with_django_ids(app: Any, tasks: list[Task]) -> list[tuple[Task, str]]:
    """Each task with its Django result id: its own id, or for a retry its chain's first
    (one read per retry shown)."""
    rows: list[tuple[Task, str]] = []
    for task in tasks:
        ident = str(task.uuid)
        if task.retry_parent_uuid is not None:
            stored = await app._client.get(ident)
            ident = ident if stored is None else django_id(stored)
        rows.append((task, ident))
    return rows


__all__ = [
    "DeadLetter",
    "Located",
    "backend_named",
    "dead_letters",
    "django_id",
    "last_attempts",
    "locate",
    "qtasks_backends",
    "with_django_ids",
]
