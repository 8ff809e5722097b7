"""QTasks' ``TaskMiddleware``: code run before or after a task's call.

``@app.task(middlewares_before=[M], middlewares_after=[M])`` or
``app.add_middleware(M, position="before"|"after", **kwargs)``. Each run builds
``M(task_executor, **kwargs)`` and calls it; ``__call__`` may be a coroutine. It may
change ``self.task_executor._args`` / ``_kwargs`` (before) or ``_result`` (after), or
return another task executor to hand on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qtasks.middlewares.base import BaseMiddleware

if TYPE_CHECKING:
    from qtasks.executors.base import BaseTaskExecutor


class TaskMiddleware(BaseMiddleware):
    """Base of task middlewares: subclass and override ``__call__``."""

    def __init__(self, task_executor: BaseTaskExecutor) -> None:
        super().__init__(name="TaskMiddleware")
        self.task_executor = task_executor

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the middleware; return ``None`` or a task executor for the next ones."""
        return None
