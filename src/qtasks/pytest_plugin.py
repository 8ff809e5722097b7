"""qtasks' pytest plugin: fixtures for testing code that uses qtasks (loaded by pytest
through the ``pytest11`` entry point once qtasks is installed).

Every fixture runs the real engine, in the test's process, on the in-memory transport:

- ``qtasks_app``: a fresh app on its own ``memory://`` queue, one per test. Its name,
  config and class come from ``qtasks_app_name``, ``qtasks_config`` and
  ``qtasks_app_class``: override those (in a ``conftest.py``, or with
  ``@pytest.mark.parametrize``), or override ``qtasks_app`` itself to test your own app
  (``return qtasks_memory(myproject.app)``); the fixtures below use whichever it returns.
- ``qtasks_eager``: ``qtasks_app`` in eager mode: ``add_task`` runs the task before it
  returns and gives back its final record; a task's exception is raised in the test.
- ``qtasks_worker``: a worker running in a background thread for the whole test.
- ``qtasks_drain``: call it to run every due task now; returns how many ran. Errors of
  failed tasks are kept on ``qtasks_drain.errors``; ``qtasks_drain(raise_errors=True)``
  raises the first one.
- ``qtasks_memory``: ``qtasks_memory(app)`` points an existing app at a fresh memory
  queue until the test ends, and returns it.

Imports of qtasks happen inside the fixtures, so a test session that uses none of them
pays nothing for the plugin.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from qtasks.app import AppCore
    from qtasks.config import QueueConfig
    from qtasks.testing import Drainer
    from qtasks.worker import Worker


@pytest.fixture
def qtasks_app_name() -> str:
    """The name (namespace) of ``qtasks_app``; override to change it."""
    return "QueueTasks"


@pytest.fixture
def qtasks_config() -> QueueConfig | None:
    """The ``QueueConfig`` of ``qtasks_app`` (``None``: the default, read from
    ``QTASKS_*``); override to change it."""
    return None


@pytest.fixture
def qtasks_app_class() -> type[AppCore[Any]]:
    """The app class of ``qtasks_app``: ``qtasks.QueueTasks``; override with
    ``qtasks.asyncio.QueueTasks`` for an async app."""
    from qtasks import QueueTasks

    return QueueTasks


@pytest.fixture
def qtasks_app(
    qtasks_app_class: type[AppCore[Any]],
    qtasks_app_name: str,
    qtasks_config: QueueConfig | None,
) -> Iterator[AppCore[Any]]:
    """A fresh app on a ``memory://`` queue of its own, emptied after the test."""
    app = qtasks_app_class(
        name=qtasks_app_name, broker_url=f"memory://{uuid.uuid4().hex}", config=qtasks_config
    )
    yield app
    app._runner.run(app._client.flush_all())


@pytest.fixture
def qtasks_memory() -> Iterator[Callable[..., Any]]:
    """``qtasks_memory(app, name=None)``: point ``app`` at a fresh (or the named)
    ``memory://`` queue until the test ends, then back at its own transport."""
    from qtasks.testing import in_memory

    with ExitStack() as stack:

        def use(app: Any, name: str | None = None) -> Any:
            return stack.enter_context(in_memory(app, name))

        yield use


@pytest.fixture
def qtasks_eager(qtasks_app: AppCore[Any]) -> Iterator[AppCore[Any]]:
    """``qtasks_app`` in eager mode for the test: each ``add_task`` runs its task through
    the real path (encoded, claimed, decoded by a worker in this process) before it
    returns the final record; a task that fails raises its exception here."""
    from qtasks.testing import eager

    with eager(qtasks_app) as app:
        yield app


@pytest.fixture
def qtasks_worker(qtasks_app: AppCore[Any]) -> Iterator[Worker]:
    """A worker for ``qtasks_app`` running in a background thread for the test (stopped
    gracefully afterwards): for code that waits on results (``add_task(timeout=...)``)."""
    from qtasks.testing import worker_thread

    with worker_thread(qtasks_app) as worker:
        yield worker


@pytest.fixture
def qtasks_drain(qtasks_app: AppCore[Any]) -> Drainer:
    """``qtasks_drain()`` runs every due task of ``qtasks_app`` now and returns how many
    ran; failures are kept on ``qtasks_drain.errors`` (``raise_errors=True`` raises the
    first). In async tests, ``await qtasks_drain.run_async()``."""
    from qtasks.testing import Drainer

    return Drainer(qtasks_app)
