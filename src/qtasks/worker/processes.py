"""``executor="process"``: sync tasks in child processes that a time limit can really stop.

A thread cannot be stopped, so a sync task past ``max_time`` on the thread
pool keeps running on its own. A child process can: when the limit passes
(or ``cancel()`` asks), the child is killed with SIGKILL and a fresh one takes
its place. Children are started with ``spawn`` (a clean interpreter: no
copied event loop, locks or connections of the worker) and reused from task
to task, so the start-up cost (~0.1 s) is paid once per slot, not per task.

The child finds the function by module and qualified name, so a process task
must be defined at module level; arguments and return values cross by pickle
(they are JSON values already, from the message). The loop never blocks: it
watches each child's pipe with ``add_reader``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import multiprocessing
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from qtasks.core.definition import importable_path
from qtasks.core.errors import QTasksError

_SPAWN = multiprocessing.get_context("spawn")


class ChildProcessDied(QTasksError):
    """The child process running a task exited without answering (crash, OOM kill)."""


class RemoteError(QTasksError):
    """An exception raised in the child that could not be sent back as itself."""


def _resolve(module: str, qualname: str) -> Callable[..., Any]:
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    # The module attribute is usually the task handle ``@app.task`` returned.
    definition = getattr(target, "definition", None)
    func = getattr(definition, "func", target)
    if not callable(func):
        raise TypeError(f"{module}.{qualname} is not callable")
    return func  # type: ignore[no-any-return]


def _child_main(conn: Connection) -> None:  # pragma: no cover - runs in the child process
    """Answer each request ``(module, qualname, args, kwargs)`` with ``(ok, value)``."""
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        module, qualname, args, kwargs = request
        try:
            value = _resolve(module, qualname)(*args, **kwargs)
            if inspect.isgenerator(value):
                value = list(value)
            conn.send((True, value))
        except BaseException as exc:  # everything goes back to the worker, like on a thread
            text = "".join(traceback.format_exception(exc)).rstrip()
            exc.add_note(f"raised in the task's child process:\n{text}")
            try:
                conn.send((False, exc))
            except Exception:  # an exception that does not pickle
                conn.send((False, RemoteError(text)))


class _Child:
    """One child process and its end of the pipe."""

    def __init__(self) -> None:
        self.conn, child_end = _SPAWN.Pipe()
        self.process: BaseProcess = _SPAWN.Process(
            target=_child_main, args=(child_end,), name="qtasks-task", daemon=True
        )
        self.process.start()
        child_end.close()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(2)
        self.kill()


class ProcessRunner:
    """Runs sync task functions in reusable child processes, killing one that overruns."""

    def __init__(self) -> None:
        self._idle: list[_Child] = []
        self._busy: set[_Child] = set()

    async def run(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Call ``func`` in a child; cancelling this coroutine (time limit, ``cancel()``,
        shutdown) kills the child."""
        module, qualname = importable_path(func)
        child = self._idle.pop() if self._idle else await asyncio.to_thread(_Child)
        self._busy.add(child)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[bool, Any]] = loop.create_future()

        def readable() -> None:
            loop.remove_reader(child.conn.fileno())
            try:
                reply = child.conn.recv()
            except (EOFError, OSError):
                child.process.join(1)
                code = child.process.exitcode
                reply = (
                    False,
                    ChildProcessDied(f"the task's child process died (exit code {code})"),
                )
            if not answer.done():
                answer.set_result(reply)

        reusable = False
        try:
            child.conn.send((module, qualname, args, kwargs))
            loop.add_reader(child.conn.fileno(), readable)
            ok, value = await answer
            reusable = child.process.is_alive()
        finally:
            self._busy.discard(child)
            if reusable:
                self._idle.append(child)
            else:
                # (a cancelled ``answer`` is done too: the reader is still registered,
                # and a later child given the same fd would never be heard)
                loop.remove_reader(child.conn.fileno())
                child.kill()  # overran, cancelled, or died: never reuse it
        if not ok:
            raise value
        return value

    def stop(self) -> None:
        """End every child: idle ones politely, running ones at once."""
        for child in self._idle:
            child.stop()
        for child in self._busy:
            child.kill()
        self._idle.clear()
        self._busy.clear()
