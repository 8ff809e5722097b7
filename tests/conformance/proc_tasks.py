"""Module-level functions for ``executor="process"`` tests (a child process imports them)."""

from __future__ import annotations

import os
import time


class Retryable(Exception):
    pass


class MoreRetryable(Retryable):
    pass


def square_sum(n: int) -> int:
    return sum(i * i for i in range(n))


def spin(marker: str) -> None:
    """Record the child's pid, then burn CPU forever (only a kill stops it)."""
    with open(marker, "w") as f:
        f.write(str(os.getpid()))
    while True:
        time.sleep(0)


def fail_subclass() -> None:
    raise MoreRetryable("try again")


def crash() -> None:
    os._exit(3)


def pids() -> int:
    return os.getpid()
