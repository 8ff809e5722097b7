"""Chains: run calls one after another, each result appended to the next call's arguments.

The chain runs from the caller (each step is enqueued once the previous one
succeeded), so any worker can run any step and a failed step stops the chain
with that step's record.
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

    async def _run(self, timeout: float | None) -> Task | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        record: Task | None = None
        for index, call in enumerate(self.calls):
            if index and record is not None:
                call = call.with_args(record.returning)
            left = 1e9 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return None
            record = await call.handle.app._add_task(
                call.task_name, call.args, call.kwargs, priority=None, timeout=left
            )
            if record is None or record.status != TaskStatusEnum.SUCCESS:
                return record
        return record


class SyncChain(_Chain):
    def get(self, timeout: float | None = None) -> Task | None:
        """Run the chain; the last step's record (or the failed step's), ``None`` on timeout."""
        return self.calls[0].handle.app._sync(self._run(timeout))


class AsyncChain(_Chain):
    async def get(self, timeout: float | None = None) -> Task | None:
        """Run the chain; the last step's record (or the failed step's), ``None`` on timeout."""
        return await self._run(timeout)


class SyncTaskUtils:
    @staticmethod
    def chain(*calls: TaskCall[Any]) -> SyncChain:
        return SyncChain(*calls)


class AsyncTaskUtils:
    @staticmethod
    def chain(*calls: TaskCall[Any]) -> AsyncChain:
        return AsyncChain(*calls)
