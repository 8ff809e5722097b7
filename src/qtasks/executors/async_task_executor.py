"""QTasks' ``AsyncTaskExecutor``: coroutine hooks, run on the worker's event loop."""

from __future__ import annotations

import inspect
from typing import Any

from qtasks.executors.base import BaseTaskExecutor


class AsyncTaskExecutor(BaseTaskExecutor):
    """Hooks are coroutines on the worker's loop (they must not block it).

    The function itself runs as for any task: an async one on the loop, a sync one on
    the thread pool, ``max_time`` applied to ``run_task()``. An instance of it also
    describes each run to middlewares and plugins (``task_executor=``).
    """

    async def execute(self, decode: bool = True) -> Any:
        await self.execute_middlewares_before()
        await self.before_execute()
        self._result = await self.run_task()
        await self.after_execute()
        self._result = self._engine.result_value(self._result)
        await self.execute_middlewares_after()
        if decode:
            self._result = await self.decode()
        return self._result

    async def before_execute(self) -> None:
        """Called before the task runs."""

    async def after_execute(self) -> None:
        """Called after the task ran (``self._result`` holds its value)."""

    async def run_task(self) -> Any:
        if self.task_func.generating:
            return await self.run_task_gen(self.task_func.func(*self._args, **self._kwargs))
        return await self._engine.run_function(self._args, self._kwargs)

    async def run_task_gen(self, func: Any) -> list[Any]:
        return await self._engine.collect(func)

    async def execute_middlewares_before(self) -> None:
        for middleware in self.task_func.middlewares_before:
            await _maybe_await(middleware(self)())

    async def execute_middlewares_after(self) -> None:
        for middleware in self.task_func.middlewares_after:
            await _maybe_await(middleware(self)())

    async def decode(self) -> Any:
        if self.task_func.decode is None:
            return self._result
        return await _maybe_await(self.task_func.decode(self._result))


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value
