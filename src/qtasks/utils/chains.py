"""Chains: run calls one after another, each result appended to the next call's arguments.

The chain runs from the caller (each step is enqueued once the previous one
succeeded), so any worker can run any step. ``get(timeout)`` returns one entry
per step, as QTasks does: the step's final record, or ``None`` for a step that
did not finish in time or never ran. A failed step (``error`` / ``cancel``) stops
the chain: its record is the last one that is not ``None``.
"""

from __future__ import annotations

import time
from typing import Any

from qtasks.core.result import Task
from qtasks.core.status import TaskStatusEnum
from qtasks.tasks import TaskCall


class _Chain:
    def __init__(self, *calls: TaskCall[Any]) -> None:
        if not calls:
            raise ValueError("a chain needs at least one task call")
        self.calls = calls

    async def _run(self, timeout: float | None) -> list[Task | None]:
        deadline = None if timeout is None else time.monotonic() + timeout
        records: list[Task | None] = [None] * len(self.calls)
        previous: Task | None = None
        for index, call in enumerate(self.calls):
            if previous is not None:
                call = call.with_args(previous.returning)
            left = _wait_for(call.timeout, deadline)
            if left <= 0:
                break
            record = await call.handle.app._add_task(
                call.task_name, call.args, call.kwargs, priority=call.priority, timeout=left
            )
            records[index] = record
            if record is None or record.status != TaskStatusEnum.SUCCESS:
                break
            previous = record
        return records


def _wait_for(step_timeout: float | None, deadline: float | None) -> float:
    """How long a step may take: its own ``timeout=``, within what is left of the chain's."""
    left = 1e9 if deadline is None else deadline - time.monotonic()
    return left if step_timeout is None else min(step_timeout, left)


class SyncChain(_Chain):
    def get(self, timeout: float | None = None) -> list[Task | None]:
        """Run the chain (at most ``timeout`` seconds in all): one record per step, ``None``
        for a step that timed out or did not run after a failure."""
        return self.calls[0].handle.app._sync(self._run(timeout))


class AsyncChain(_Chain):
    async def get(self, timeout: float | None = None) -> list[Task | None]:
        """Run the chain (at most ``timeout`` seconds in all): one record per step, ``None``
        for a step that timed out or did not run after a failure."""
        return await self._run(timeout)


class SyncTaskUtils:
    @staticmethod
    def chain(*calls: TaskCall[Any]) -> SyncChain:
        return SyncChain(*calls)


class AsyncTaskUtils:
    @staticmethod
    def chain(*calls: TaskCall[Any]) -> AsyncChain:
        return AsyncChain(*calls)
