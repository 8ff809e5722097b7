"""``shared_task``: tasks declared without an app.

A shared task is registered on every app created after it, and on the app
given to ``autodiscover_tasks``. It is sent through the first app it was
registered on (never "whichever app was created last").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, Unpack, overload

from qtasks.config import QueueConfig
from qtasks.declare import Declaration, TaskOptions, bare_or_named
from qtasks.tasks import AsyncTask, SyncTask, TaskHandle

if TYPE_CHECKING:
    from qtasks.app import AppCore

P = ParamSpec("P")
R = TypeVar("R")

_shared: list[TaskHandle[Any, Any]] = []


def register_existing(app: AppCore[Any]) -> None:
    """Register every shared task declared so far on a new app."""
    for handle in _shared:
        app.register(handle)


@overload
def shared_task(name: Callable[P, R]) -> SyncTask[P, R]: ...
@overload
def shared_task(
    name: str | None = None, *, awaiting: bool = False, **options: Unpack[TaskOptions]
) -> Callable[[Callable[P, R]], Any]: ...
def shared_task(name: Any = None, *, awaiting: bool = False, **options: Any) -> Any:
    """Declare a task without an app; ``awaiting=True`` gives it an async ``add_task``."""
    handle_class: type[TaskHandle[Any, Any]] = AsyncTask if awaiting else SyncTask

    def declare(func: Callable[..., Any], task_name: str | None) -> TaskHandle[Any, Any]:
        declaration = Declaration(func, task_name, options)
        handle = handle_class(declaration.build(QueueConfig()), declaration=declaration)
        _shared.append(handle)
        return handle

    return bare_or_named(name, declare)
