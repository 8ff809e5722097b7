"""``AsyncStarter``: the starter of ``qtasks.asyncio.QueueTasks`` (``await starter.stop()``)."""

from __future__ import annotations

import asyncio
from typing import Any

from qtasks.starters.base import BaseStarter


class AsyncStarter(BaseStarter):
    """Runs the app's worker on an event loop: ``app.run_forever(starter=AsyncStarter())``."""

    def start(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        num_workers: int | None = None,
        reset_config: bool = True,
        plugins: dict[str, list[Any]] | None = None,
        **worker_options: Any,
    ) -> None:
        """Run until the worker stops.

        :param loop: the loop to run in; default: a new one (``asyncio.run``).
        :param num_workers: tasks run at once; default the app's ``max_tasks_process``.
        :param reset_config: accepted for QTasks (the worker follows the app's config).
        :param plugins: more plugins for this starter (``{trigger or "Globals": [plugin]}``).
        :param worker_options: ``queues=``, ``prefetch=``, ``burst=``.
        """
        self._run_blocking(loop, num_workers, plugins, worker_options)

    async def stop(self) -> None:
        """Ask the running worker to stop gracefully (``run_forever`` then returns)."""
        self._request_stop()


__all__ = ["AsyncStarter"]
