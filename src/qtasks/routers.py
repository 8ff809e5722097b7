"""Routers: groups of tasks declared apart from the app, included with ``app.include_router``.

A router's tasks are sent through the first app that includes the router.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, Unpack, overload

from qtasks.config import QueueConfig
from qtasks.declare import Declaration, TaskOptions, bare_or_named
from qtasks.tasks import AsyncTask, SyncTask, TaskHandle

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


class SyncRouter(_Router):
    """Tasks with a blocking ``add_task``."""

    _handle_class = SyncTask

    @overload
    def task(self, name: Callable[P, R]) -> SyncTask[P, R]: ...
    @overload
    def task(
        self, name: str | None = None, **options: Unpack[TaskOptions]
    ) -> Callable[[Callable[P, R]], SyncTask[P, R]]: ...
    def task(self, name: Any = None, **options: Any) -> Any:
        """Declare a task on this router, with the options of ``@app.task``."""
        return self._task(name, options)


class AsyncRouter(_Router):
    """Tasks with an awaitable ``add_task``."""

    _handle_class = AsyncTask

    @overload
    def task(self, name: Callable[P, R]) -> AsyncTask[P, R]: ...
    @overload
    def task(
        self, name: str | None = None, **options: Unpack[TaskOptions]
    ) -> Callable[[Callable[P, R]], AsyncTask[P, R]]: ...
    def task(self, name: Any = None, **options: Any) -> Any:
        """Declare a task on this router, with the options of ``@app.task``."""
        return self._task(name, options)


#: The obvious name for the common case.
Router = SyncRouter
