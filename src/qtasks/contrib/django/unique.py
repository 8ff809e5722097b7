"""Unique Django tasks (``OPTIONS["unique"]``, the rule of ``core/unique.py``): what the
backend answers when a held key kept a call out, and the check of the tasks listed.

An ``.enqueue()`` (``.aenqueue()``) while an equal call holds the key stores nothing and
returns the holder's ``TaskResult``, without ``task_enqueued``. Inside
``transaction.atomic()`` with ``enqueue_on_commit``, the task is sent at the commit, like
any other: if it is deduplicated then, the result ``.enqueue()`` returned becomes the
holder's in place (its id too), as Django's own ``refresh()`` updates a result. So
inside the block its id is provisional: the id of a task that exists only once the block
commits, and only if no equal call holds the key by then.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.core import checks

from qtasks.contrib.django import compat
from qtasks.contrib.django.execution import import_task
from qtasks.contrib.django.lookups import django_id
from qtasks.contrib.django.results import task_result

if TYPE_CHECKING:
    from qtasks.contrib.django.backend import QTasksBackend


async def holder_result(backend: QTasksBackend, holder_id: str, result: Any) -> Any:
    """The result of the task holding the key that kept ``result``'s call out (by its
    Django id: the holder may be a retry's attempt); if its record is gone meanwhile,
    ``result`` with the holder's id (what is known of it)."""
    stored = await backend.app._client.get(holder_id)
    try:
        chain = await backend._chain(holder_id if stored is None else django_id(stored))
    except compat.TaskResultDoesNotExist:
        return dataclasses.replace(result, id=holder_id)
    return task_result(chain, backend.alias)


def become(result: Any, holder: Any) -> None:
    """Make ``result`` the holder's result, in place (``None``: it was sent, it stays)."""
    if holder is not None:
        for field in dataclasses.fields(holder):
            object.__setattr__(result, field.name, getattr(holder, field.name))


def unique_errors(backend: QTasksBackend) -> Iterator[Any]:
    """``qtasks.E002`` for each task of ``OPTIONS["unique"]`` that does not import (a
    typo would leave the task silently not unique)."""
    for path, _ in backend.qtasks_options.unique:
        try:
            import_task(path)
        except Exception as exc:  # ImportError, AttributeError, not a Task, its own errors
            yield checks.Error(
                f"TASKS[{backend.alias!r}]: OPTIONS['unique'] names {path!r}, which does not "
                f"import: {type(exc).__name__}: {exc}",
                id="qtasks.E002",
            )


__all__ = ["become", "holder_result", "unique_errors"]
