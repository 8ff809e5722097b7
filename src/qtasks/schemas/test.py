"""QTasks path ``qtasks.schemas.test``: ``TestConfig``, what a test case keeps real.

A flag that is ``True`` keeps that part of the app in play; ``False`` swaps it
for an in-process stand-in while the test case is set up (QTasks' meaning:
``TestConfig.full()`` is the real app, ``TestConfig()`` stubs everything).
What each flag does in :mod:`qtasks.tests`:

- ``broker``: the app's own transport; off, a private ``memory://`` queue.
- ``worker``: the test case runs a real worker in-process, so ``add_task``
  returns once its task has run; off, tasks wait for ``case.drain()``,
  ``case.start_in_background()`` or a worker elsewhere.
- ``storage``, ``global_config``: results and the worker registry live in
  the broker, so they follow ``broker``.
- ``plugins``: off, the hooks at the plugin position of the app's chain
  (``app.add_plugin``, ``app.add_hook``: order 500-599) are set aside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class TestConfig:
    """Which parts of the app a test case keeps real; every flag is off by default."""

    __test__: ClassVar[bool] = False  # a settings class, not a pytest test class

    worker: bool = False
    """Run tasks with a real worker, in-process."""
    broker: bool = False
    """Keep the app's transport (off: a private ``memory://`` queue)."""
    storage: bool = False
    """Results are kept by the broker: follows ``broker``."""
    global_config: bool = False
    """The worker registry is kept by the broker: follows ``broker``."""
    plugins: bool = False
    """Keep the app's plugins and user hooks."""

    @classmethod
    def full(cls) -> TestConfig:
        """Everything real: the app's transport, a worker in-process, its plugins."""
        return cls(worker=True, broker=True, storage=True, global_config=True, plugins=True)

    @classmethod
    def only_worker(cls, plugins: bool = False) -> TestConfig:
        """A worker in-process on a private memory queue (and, if asked, the plugins)."""
        return cls(worker=True, plugins=plugins)

    @classmethod
    def only_broker(cls, plugins: bool = False) -> TestConfig:
        """The app's transport without a worker (and, if asked, the plugins)."""
        return cls(broker=True, plugins=plugins)

    @classmethod
    def full_broker(cls) -> TestConfig:
        """The app's transport with what it keeps (storage, global config) and the
        plugins, without a worker: tasks run where a worker runs (another process)."""
        return cls(broker=True, storage=True, global_config=True, plugins=True)


__all__ = ["TestConfig"]
