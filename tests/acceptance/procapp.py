"""The app the acceptance tests' worker processes import: ``qtasks -A procapp:app run``.

Worker processes import this file as the top-level module ``procapp`` (the
tests put this folder on ``PYTHONPATH`` or run from it); the test process
builds its own client app with :func:`make_app` and the same tasks, pointed at
the test's SQLite file. Task functions that leave traces write to paths given
as arguments, so no global state is shared between tests.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

from qtasks import QueueTasks

UNICODE_NAME = "reports:daily-é"


class CustomBaseError(BaseException):
    """A BaseException that is neither Exception, SystemExit nor KeyboardInterrupt."""


def _append(path: str, line: str) -> None:
    # One O_APPEND write: lines from concurrent threads/processes never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def add(a: int, b: int) -> int:
    return a + b


def daily_report(day: str) -> dict[str, Any]:
    return {"day": day, "title": "Rapport quotidien — é"}


def marked_sleep(marker: str, first: float, later: float = 0.0) -> int:
    """Record this run (pid) in ``marker``; sleep ``first`` on the first run, ``later`` after."""
    _append(marker, str(os.getpid()))
    with open(marker) as f:
        runs = len(f.read().splitlines())
    time.sleep(first if runs == 1 else later)
    return runs


def append_value(path: str, value: Any) -> Any:
    _append(path, str(value))
    return value


def record_run(path: str, i: int) -> int:
    _append(path, f"{i} {os.getpid()}")
    return i * 2


def die_hard(marker: str) -> None:
    """Kill this worker process outright, like the OOM killer would (a poison pill)."""
    _append(marker, str(os.getpid()))
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)


# failures --------------------------------------------------------------------------------


def raise_system_exit() -> None:
    raise SystemExit(3)


def raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt("ctrl-c from inside a task")


def raise_custom_base() -> None:
    raise CustomBaseError("custom base boom")


def return_unserializable() -> object:
    return object()


def raise_text(text: str) -> None:
    """Raise with a message no store accepts as it is: ``S`` becomes a lone surrogate and
    ``N`` a NUL (the caller cannot send those: JSON carries neither)."""
    raise ValueError(text.replace("S", "\ud800").replace("N", "\x00"))


def cancel_with_text(text: str) -> None:
    from qtasks.core.errors import TaskCancelledError

    raise TaskCancelledError(text.replace("S", "\ud800").replace("N", "\x00"))


async def araise_system_exit() -> None:
    await asyncio.sleep(0)
    raise SystemExit(4)


async def araise_keyboard_interrupt() -> None:
    await asyncio.sleep(0)
    raise KeyboardInterrupt("async ctrl-c from inside a task")


async def araise_custom_base() -> None:
    await asyncio.sleep(0)
    raise CustomBaseError("async custom base boom")


async def araise_cancelled() -> None:
    await asyncio.sleep(0)
    raise asyncio.CancelledError("the task raised CancelledError itself")


async def areturn_unserializable() -> object:
    await asyncio.sleep(0)
    return object()


#: name -> (function, extra @task options), for the failure tasks.
FAILING: dict[str, tuple[Any, dict[str, Any]]] = {
    "fail.system_exit": (raise_system_exit, {}),
    "fail.keyboard_interrupt": (raise_keyboard_interrupt, {}),
    "fail.custom_base": (raise_custom_base, {}),
    "fail.unserializable": (return_unserializable, {}),
    "fail.loop.system_exit": (raise_system_exit, {"executor": "loop"}),
    "fail.loop.keyboard_interrupt": (raise_keyboard_interrupt, {"executor": "loop"}),
    "fail.loop.custom_base": (raise_custom_base, {"executor": "loop"}),
    "fail.async.system_exit": (araise_system_exit, {}),
    "fail.async.keyboard_interrupt": (araise_keyboard_interrupt, {}),
    "fail.async.custom_base": (araise_custom_base, {}),
    "fail.async.cancelled": (araise_cancelled, {}),
    "fail.async.unserializable": (areturn_unserializable, {}),
}


def make_app(broker_url: str | None = None, name: str | None = None) -> QueueTasks:
    """The app with every task registered; ``broker_url`` defaults to ``QTASKS_BROKER_URL``,
    ``name`` (the app's namespace) to ``PROCAPP_NAME``, else ``procapp``."""
    app = QueueTasks(name or os.environ.get("PROCAPP_NAME", "procapp"), broker_url=broker_url)
    app.task("add")(add)
    app.task(UNICODE_NAME)(daily_report)
    app.task("marked_sleep")(marked_sleep)
    app.task("marked_sleep_once", acks_early=True)(marked_sleep)
    app.task("append_value")(append_value)
    app.task("record_run")(record_run)
    app.task("die_hard")(die_hard)
    app.task("fail.text")(raise_text)
    app.task("cancel.text")(cancel_with_text)
    for name, (func, options) in FAILING.items():
        app.task(name, **options)(func)
    return app


app = make_app()
