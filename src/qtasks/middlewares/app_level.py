"""``app.add_middleware(cls, position="before"|"after", **kwargs)``: a middleware for
every task of the app (QTasks documents it; 1.7.3 raises instead)."""

from __future__ import annotations

from typing import Any

from qtasks.core.errors import ConfigurationError
from qtasks.middlewares.task import TaskMiddleware
from qtasks.worker.middlewares import TaskMiddlewares

POSITIONS = ("before", "after")


def add_middleware(
    app: Any, middleware: type[Any], position: str = "before", **kwargs: Any
) -> None:
    """Run ``middleware(task_executor, **kwargs)()`` before (or after) every task's call,
    in the workers of ``app`` made from now on."""
    if not (isinstance(middleware, type) and issubclass(middleware, TaskMiddleware)):
        raise TypeError(
            f"a middleware must be a subclass of qtasks.middlewares.TaskMiddleware, "
            f"got {middleware!r}"
        )
    if position not in POSITIONS:
        raise ConfigurationError(
            f"middleware position must be one of {', '.join(map(repr, POSITIONS))}, "
            f"got {position!r}"
        )
    found = app.hooks.of_type(TaskMiddlewares)
    hook: TaskMiddlewares = found[0] if found else app.add_hook(TaskMiddlewares())
    (hook.before if position == "before" else hook.after).append((middleware, kwargs))
    app.hooks.remove(hook)  # re-added: the chain asks every task's applies() again
    app.add_hook(hook)
    app.log.debug("middleware %s added (%s)", middleware.__name__, position)
