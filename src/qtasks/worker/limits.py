"""Time limits, as the innermost hook: past ``max_time`` the run is stopped and fails with
``TaskTimeoutError``. An async task is cancelled; a process task's child is killed; a sync
task on a thread cannot be stopped, so it is reported on time, its slot freed, and its
thread left to finish alone."""

from __future__ import annotations

import asyncio
from typing import Any

from qtasks.core.definition import TaskDefinition
from qtasks.core.errors import TaskTimeoutError
from qtasks.core.hooks import CallNext, Hook, Run


class TimeLimit(Hook):
    """``max_time=S``: the task (hooks outside this one excluded) gets S seconds."""

    order = 1000

    def applies(self, definition: TaskDefinition) -> bool:
        return definition.max_time is not None

    async def execute(self, run: Run, call_next: CallNext) -> Any:
        limit = run.definition.max_time
        try:
            async with asyncio.timeout(limit) as scope:
                return await call_next(run)
        except TimeoutError as exc:
            if scope.expired():
                raise TaskTimeoutError(
                    f"task {run.definition.name!r} exceeded max_time={limit}s"
                ) from exc
            raise  # the task raised TimeoutError itself
