"""Shared by the qtasks peers (``peer_qtasks*.py``): their META and the four bench tasks.

Each peer module calls ``sync_peer`` or ``async_peer``: its app (``app``, the name the
worker command loads) with the bench's tasks (``_common.SYNC_TASKS`` or ``ASYNC_TASKS``)
registered, and the driver's ``enqueue`` / ``prefill``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

BATCH = 1000


def meta(module: str, label: str, tuning: str) -> dict[str, Any]:
    """META of a qtasks peer whose app is ``<module>:app`` named "bench"."""
    return {
        "label": label,
        "venv": None,  # the repository's own .venv
        "dist": "qtasks",
        "packages": [],
        "worker": [
            *("{python}", "-m", "qtasks", "-A", f"{module}:app"),
            *("--log-level", "WARNING", "run"),
        ],
        "tuning": tuning,
        "done": "zcard:qtasks:bench:{bench:default}:fin:success",  # app "bench"
        "timestamps": True,
        "kinds": ("noop", "io"),
    }


def sync_tasks(app: Any, **options: Any) -> dict[str, Any]:
    """The bench's sync ``def`` tasks on ``app`` (``options`` go to every ``@app.task``)."""
    from _common import SYNC_TASKS

    return {name: app.task(name, **options)(f) for name, f in SYNC_TASKS.items()}


def async_tasks(app: Any, **options: Any) -> dict[str, Any]:
    """The bench's ``async def`` tasks on ``app``."""
    from _common import ASYNC_TASKS

    return {name: app.task(name, **options)(f) for name, f in ASYNC_TASKS.items()}


def _batches(n: int) -> list[list[tuple[int]]]:
    """``add_tasks`` argument lists of ``BATCH`` calls each, covering ``range(n)``."""
    return [[(i,) for i in range(s, min(n, s + BATCH))] for s in range(0, n, BATCH)]


def sync_client(
    tasks: dict[str, Any],
) -> tuple[Callable[[str, int], None], Callable[[int, str], None]]:
    """The driver's ``enqueue(task, i)`` and ``prefill(n, task)`` for a sync app."""

    def enqueue(task: str, i: int) -> None:
        tasks[task].add_task(i)

    def prefill(n: int, task: str = "noop") -> None:
        for batch in _batches(n):
            tasks[task].add_tasks(batch)

    return enqueue, prefill


def async_client(
    tasks: dict[str, Any],
) -> tuple[Callable[[str, int], Awaitable[None]], Callable[[int, str], Awaitable[None]]]:
    """The same for an async app (``qtasks.asyncio.QueueTasks``)."""

    async def enqueue(task: str, i: int) -> None:
        await tasks[task].add_task(i)

    async def prefill(n: int, task: str = "noop") -> None:
        for batch in _batches(n):
            await tasks[task].add_tasks(batch)

    return enqueue, prefill


def sync_peer(**options: Any) -> tuple[Any, Callable[[str, int], None], Callable[[int, str], None]]:
    """``app, enqueue, prefill`` of a sync app named "bench" on the bench's Redis URL."""
    from _common import URL

    from qtasks import QueueTasks

    app = QueueTasks("bench", broker_url=URL)
    return (app, *sync_client(sync_tasks(app, **options)))


def async_peer(
    **options: Any,
) -> tuple[Any, Callable[[str, int], Awaitable[None]], Callable[[int, str], Awaitable[None]]]:
    """The same with ``qtasks.asyncio.QueueTasks`` and ``async def`` tasks."""
    from _common import URL

    from qtasks.asyncio import QueueTasks

    app = QueueTasks("bench", broker_url=URL)
    return (app, *async_client(async_tasks(app, **options)))
