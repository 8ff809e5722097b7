"""``BaseTestCase``: the one implementation behind ``SyncTestCase`` and ``AsyncTestCase``.

A test case prepares an app for a test as its :class:`~qtasks.schemas.test.TestConfig`
says (the app's transport or a private ``memory://`` queue, its plugins or not) and, with
``worker`` on, runs each task it adds with a real worker in the test's own process: the
message is encoded, claimed, decoded and its outcome stored as in production.
``stop()`` puts the app back as it was.

Every operation is written once, as a coroutine here; ``AsyncTestCase`` awaits it and
``SyncTestCase`` runs it on the app's private event loop.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from qtasks.app import AppCore
from qtasks.config import QueueConfig
from qtasks.core.hooks import DEFAULT_ORDER, Hook
from qtasks.core.result import Task
from qtasks.schemas.test import TestConfig
from qtasks.testing import EAGER_TIMEOUT, drain_async, in_memory, run_until_final, worker_thread
from qtasks.worker import Worker

#: Hooks at these orders are the app's plugins and user hooks (what ``plugins=False`` sets
#: aside); events, signals, middlewares, ``Depends`` and the engine's own hooks stay.
PLUGIN_ORDERS = range(DEFAULT_ORDER, 600)


class BaseTestCase:
    """Prepares ``app`` for tests and runs its tasks in-process; subclass for your own case.

    :param app: the app under test (``qtasks.QueueTasks`` or ``qtasks.asyncio.QueueTasks``).
    :param name: the name of the private memory queue used when ``broker`` is off
        (default: a fresh one each time ``settings`` runs).
    """

    def __init__(self, app: AppCore[Any], name: str | None = None) -> None:
        self.app = app
        self.name = name
        self.config: QueueConfig = app.config
        """The config the app runs with while the case is set up (``update_config``)."""
        self.test_config = TestConfig()
        self._undo = contextlib.ExitStack()
        self._background: contextlib.ExitStack | None = None
        self._serving: set[Worker] = set()
        self._lock = threading.Lock()

    # setup -----------------------------------------------------------------------------

    def update_config(self, config: QueueConfig) -> None:
        """Run the app with ``config`` from the next ``settings()`` on (restored by ``stop``)."""
        self.config = config

    def settings(
        self, test_config: TestConfig | None = None, awaiting: bool | None = False
    ) -> None:
        """Set the app up as ``test_config`` says (default: the last one given, at first
        ``TestConfig()``); a second call first undoes the first. ``awaiting`` is QTasks'
        switch between sync and async stand-ins: one engine serves both, so it is ignored."""
        self._undo.close()
        if test_config is not None:
            self.test_config = test_config
        undo = contextlib.ExitStack()
        app = self.app
        if self.config is not app.config:
            saved = app.config
            app.config = self.config
            undo.callback(setattr, app, "config", saved)
        if not self.test_config.broker:
            undo.enter_context(in_memory(app, self.name))
        if not self.test_config.plugins:
            aside = [h for h in app.hooks if h.order in PLUGIN_ORDERS]
            for hook in aside:
                app.hooks.remove(hook)
            undo.callback(_add_back, app, aside)
        self._undo = undo

    # the operations, once ----------------------------------------------------------------

    async def _add_task(
        self,
        task_name: str,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        *,
        priority: int | None,
        timeout: float | None,
    ) -> Task | None:
        """Enqueue through the app; with ``worker`` on (and no background worker), run it
        here. Returns the ``new`` record, or with ``timeout`` the final one (``None`` if
        the task did not finish in time)."""
        app = self.app
        record = await app._add_task(task_name, args, kwargs, priority=priority, timeout=None)
        if record is None:
            return None
        if self.test_config.worker and self._background is None:
            wait = EAGER_TIMEOUT if timeout is None else timeout
            (final,) = await run_until_final(app, [str(record.uuid)], wait)
            return record if timeout is None else final
        if timeout is not None:
            return await app._await_record(record.uuid, timeout)
        return record

    async def _get(self, uuid: UUID | str) -> Task | None:
        return await self.app._get(uuid)

    async def _drain(self) -> int:
        return await drain_async(self.app)

    async def _serve(self, num_workers: int) -> None:
        """Run a worker in the calling loop until ``stop()``."""
        worker = self.app.make_worker(concurrency=num_workers)
        with self._lock:
            self._serving.add(worker)
        try:
            await worker.run(install_signals=False)
        finally:
            with self._lock:
                self._serving.discard(worker)

    # background worker and teardown (plain calls: no event loop involved) ---------------

    def start_in_background(
        self, starter: Any = None, num_workers: int = 4, reset_config: bool = True
    ) -> None:
        """Run a worker in a background thread until ``stop()``; ``add_task`` then leaves
        its tasks to it. ``starter`` and ``reset_config`` are QTasks' and ignored."""
        if self._background is not None:
            return
        background = contextlib.ExitStack()
        background.enter_context(worker_thread(self.app, concurrency=num_workers))
        self._background = background

    def _stop(self) -> None:
        """Stop the workers this case runs and put the app back as it was."""
        with self._lock:
            serving = list(self._serving)
        for worker in serving:
            worker.request_stop_threadsafe()
        background, self._background = self._background, None
        if background is not None:
            background.close()
        self._undo.close()


def _add_back(app: AppCore[Any], hooks: list[Hook]) -> None:
    for hook in hooks:
        app.add_hook(hook)


__all__ = ["PLUGIN_ORDERS", "BaseTestCase"]
