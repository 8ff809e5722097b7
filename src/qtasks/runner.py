"""The sync facade's engine: run a coroutine to completion from plain sync code.

Each calling thread owns a private event loop (never a loop in another
thread: handing work across threads costs a wake-up per call). Most client
calls on an inline transport (SQLite) finish without ever waiting, so the
runner first drives the coroutine directly, with the private loop marked as
running; only if it suspends on a future does the loop take over the rest.
On this machine class ``loop.run_until_complete`` costs about 40 µs a call
(it polls the selector); driving the coroutine directly costs about 1 µs.

Called from a thread whose loop is already running (the sync API used inside
async code), the coroutine runs on a helper thread instead, so the caller's
loop is never re-entered. After ``fork`` the child starts fresh loops.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from qtasks.core.broker import blocking_caller

T = TypeVar("T")


class _Resume:
    """Awaitable that continues a coroutine which already yielded ``pending`` once."""

    def __init__(self, coro: Coroutine[Any, Any, T], pending: Any) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, pending = self._coro, self._pending
        while True:
            try:
                sent = yield pending  # the surrounding Task waits on it, as for any await
            except BaseException as exc:  # cancellation and the like go into the coroutine
                try:
                    pending = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    pending = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _finish(coro: Coroutine[Any, Any, T], pending: Any) -> T:
    result: T = await _Resume(coro, pending)
    return result


class LoopRunner:
    """Runs coroutines for sync callers: one private loop per thread (and per process)."""

    def __init__(self, *, on_new_loop: Callable[[], None] | None = None) -> None:
        """:param on_new_loop: called when a thread is about to make its loop, outside any
        running loop (the client closes the loops of threads that have ended then)."""
        self._on_new_loop = on_new_loop
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
            if self._on_new_loop is not None:
                self._on_new_loop()
            loop = asyncio.new_event_loop()
            self._local.loop = loop
        return loop

    def run(self, coro: Coroutine[Any, Any, T], *, inline: bool = False) -> T:
        """Run ``coro`` to its end; ``inline``: it is safe to start outside a Task (no timeouts)."""
        if asyncio._get_running_loop() is not None:
            return self._run_on_helper(coro, inline)
        token = blocking_caller.set(True)  # this loop is ours alone: blocking calls are fine
        try:
            return self._drive(coro, inline)
        finally:
            blocking_caller.reset(token)

    def _drive(self, coro: Coroutine[Any, Any, T], inline: bool) -> T:
        loop = self.loop()
        if not inline:
            return loop.run_until_complete(coro)
        asyncio._set_running_loop(loop)
        try:
            pending = coro.send(None)
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            asyncio._set_running_loop(None)
        return loop.run_until_complete(_finish(coro, pending))

    def _run_on_helper(self, coro: Coroutine[Any, Any, T], inline: bool) -> T:
        with self._helper_lock:
            if self._helper is None:
                self._helper = ThreadPoolExecutor(max_workers=4, thread_name_prefix="qtasks-sync")
            helper = self._helper
        return helper.submit(self.run, coro, inline=inline).result()
