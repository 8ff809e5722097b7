"""The sync facade's engine: run a coroutine to completion from plain sync code.

Each calling thread drives a private event loop of its own
(``loop.run_until_complete``, a few microseconds a call) rather than handing
work to a loop in another thread (``run_coroutine_threadsafe``, tens of
microseconds). Called from a thread whose loop is already running (sync API
used inside async code), the coroutine runs on a helper thread instead, so
the caller's loop is never re-entered. After ``fork`` the child starts fresh
loops: a loop is never shared across processes.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class LoopRunner:
    """Runs coroutines for sync callers: one private loop per thread (and per process)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._helper: ThreadPoolExecutor | None = None
        self._helper_lock = threading.Lock()
        self._pid = os.getpid()

    def loop(self) -> asyncio.AbstractEventLoop:
        """This thread's private loop, created on first use."""
        if self._pid != os.getpid():  # forked: the parent's loops and helper are not ours
            self._local = threading.local()
            self._helper = None
            self._pid = os.getpid()
        loop: asyncio.AbstractEventLoop | None = getattr(self._local, "loop", None)
        if loop is None or loop.is_closed():
            loop = asyncio.new_event_loop()
            self._local.loop = loop
        return loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self.loop().run_until_complete(coro)
        return self._run_on_helper(coro)

    def _run_on_helper(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._helper_lock:
            if self._helper is None:
                self._helper = ThreadPoolExecutor(max_workers=4, thread_name_prefix="qtasks-sync")
            helper = self._helper
        return helper.submit(lambda: self.loop().run_until_complete(coro)).result()
