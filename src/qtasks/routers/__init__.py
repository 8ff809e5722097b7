"""Routers: groups of tasks declared apart from the app, included with ``app.include_router``.

A router's tasks are sent through the first app that includes the router.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from qtasks.config import QueueConfig
from qtasks.declare import Declaration, bare_or_named
from qtasks.tasks import AsyncDeclarer, AsyncTask, SyncDeclarer, SyncTask, TaskHandle

P = ParamSpec("P")
R = TypeVar("R")


class _Router:
    _handle_class: type[TaskHandle[Any, Any]]

    def __init__(self) -> None:
        self.tasks: dict[str, TaskHandle[Any, Any]] = {}
        self._config = QueueConfig()

    def _task(self, name: Any, options: dict[str, Any]) -> Any:
        def declare(func: Callable[..., Any], task_name: str | None) -> TaskHandle[Any, Any]:
            declaration = Declaration(func, task_name, options)
            definition = declaration.build(self._config)
            if definition.name in self.tasks:
                raise ValueError(f"router already has a task named {definition.name!r}")
            handle = self._handle_class(definition, declaration=declaration)
            self.tasks[definition.name] = handle
            return handle

        return bare_or_named(name, declare)


class SyncRouter(_Router, SyncDeclarer):
    """Tasks with a blocking ``add_task``."""

    _handle_class = SyncTask


class AsyncRouter(_Router, AsyncDeclarer):
    """Tasks with an awaitable ``add_task``."""

    _handle_class = AsyncTask


#: The obvious name for the common case.
Router = SyncRouter
