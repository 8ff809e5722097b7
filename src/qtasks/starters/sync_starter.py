"""``SyncStarter``: the starter of ``qtasks.QueueTasks`` (``starter.stop()``)."""

from __future__ import annotations

import asyncio
from typing import Any

from qtasks.starters.base import BaseStarter


class SyncStarter(BaseStarter):
    """The same run as ``AsyncStarter``'s; ``stop()`` is a plain call (from any thread)."""

    def start(
        self,
        num_workers: int | None = None,
        reset_config: bool = True,
        plugins: dict[str, list[Any]] | None = None,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        **worker_options: Any,
    ) -> None:
        """Run until the worker stops; the parameters are ``AsyncStarter.start``'s."""
        self._run_blocking(loop, num_workers, plugins, worker_options)

    def stop(self) -> None:
        """Ask the running worker to stop gracefully (``run_forever`` then returns)."""
        self._request_stop()


__all__ = ["SyncStarter"]
