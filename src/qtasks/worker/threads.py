"""A bounded pool of daemon threads for sync tasks, with batched wake-ups.

Why not ``loop.run_in_executor``: each finished job there costs one
``call_soon_threadsafe`` (a self-pipe write and a loop wake-up). Here
finished jobs are queued and the loop is woken once for however many
finished meanwhile. Threads are daemons so a sync task that never returns
cannot keep the process alive after a shutdown; a thread abandoned by a
time limit is replaced, so the pool keeps its capacity.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

#: What a job hands back: (value, None) or (None, the exception it raised).
JobResult = tuple[Any, BaseException | None]

_STOP = object()


class ThreadRunner:
    """Runs callables on ``size`` daemon threads; results come back as loop futures."""

    def __init__(self, size: int, *, name: str = "qtasks-sync") -> None:
        self._size = size
        self._name = name
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._done: list[tuple[asyncio.Future[JobResult], JobResult]] = []
        self._lock = threading.Lock()
        self._wake_scheduled = False
        self._surplus = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        for _ in range(self._size):
            self._spawn()

    def _spawn(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def submit(self, fn: Callable[[], Any]) -> asyncio.Future[JobResult]:
        """Queue ``fn``; the future resolves with its :data:`JobResult` (never raises)."""
        assert self._loop is not None, "ThreadRunner.start() was not called"
        future: asyncio.Future[JobResult] = self._loop.create_future()
        self._jobs.put((fn, future))
        return future

    def abandon_one(self) -> None:
        """A job overran its time limit and keeps its thread: add a thread in its place."""
        with self._lock:
            self._surplus += 1
        self._spawn()

    def stop(self) -> None:
        """Ask idle threads to exit; busy ones exit after their job (they are daemons)."""
        for _ in self._threads:
            self._jobs.put(_STOP)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            fn, future = job
            try:
                result: JobResult = (fn(), None)
            except BaseException as exc:  # a task's SystemExit must not end the thread silently
                result = (None, exc)
            self._post(future, result)
            with self._lock:
                if self._surplus > 0:
                    self._surplus -= 1
                    return

    def _post(self, future: asyncio.Future[JobResult], result: JobResult) -> None:
        with self._lock:
            self._done.append((future, result))
            if self._wake_scheduled:
                return
            self._wake_scheduled = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
                loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        with self._lock:
            done, self._done = self._done, []
            self._wake_scheduled = False
        for future, result in done:
            if not future.done():
                future.set_result(result)
