"""QTasks' ``SyncTaskExecutor``: plain-method hooks, run with the task on a worker thread."""

from __future__ import annotations

from typing import Any

from qtasks.executors.base import BaseTaskExecutor


class SyncTaskExecutor(BaseTaskExecutor):
    """Hooks are plain methods; ``execute()`` runs on a worker thread, so they may block.

    ``max_time`` bounds the whole of ``execute()``. Async middlewares, ``decode`` and
    ``generate_handler`` functions are awaited on the worker's event loop.
    """

    def execute(self, decode: bool = True) -> Any:
        self.execute_middlewares_before()
        self.before_execute()
        self._result = self.run_task()
        self.after_execute()
        self._result = self._engine.result_value(self._result)
        self.execute_middlewares_after()
        if decode:
            self._result = self.decode()
        return self._result

    def run_task(self) -> Any:
        result = self._engine.call(self._args, self._kwargs)
        if self.task_func.generating:
            return self.run_task_gen(result)
        return result

    def run_task_gen(self, func: Any) -> list[Any]:
        return self._engine.collect_sync(func)

    def execute_middlewares_before(self) -> None:
        for middleware in self.task_func.middlewares_before:
            self._engine.resolve(middleware(self)())

    def execute_middlewares_after(self) -> None:
        for middleware in self.task_func.middlewares_after:
            self._engine.resolve(middleware(self)())

    def decode(self) -> Any:
        if self.task_func.decode is None:
            return self._result
        return self._engine.resolve(self.task_func.decode(self._result))
