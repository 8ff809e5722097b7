"""The sync facade's runner: which calls may block (see core.broker.blocking_caller)."""

from __future__ import annotations

import asyncio

from qtasks.core.broker import blocking_caller
from qtasks.runner import LoopRunner


async def _probe() -> bool:
    return blocking_caller.get()


def test_sync_facade_calls_may_block_and_nothing_else_may() -> None:
    runner = LoopRunner()
    assert runner.run(_probe()) is True  # driven on the caller's private loop
    assert runner.run(_probe(), inline=True) is True
    assert blocking_caller.get() is False  # reset once the call returns
    assert asyncio.run(_probe()) is False  # an application's own event loop


async def test_sync_api_called_inside_a_running_loop_blocks_only_its_helper_thread() -> None:
    runner = LoopRunner()
    assert runner.run(_probe()) is True  # ran on a helper thread's private loop
    assert await _probe() is False  # the caller's loop was never marked
