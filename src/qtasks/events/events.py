"""``app.events.on.<event>``: the decorators that register event handlers.

Each event has one decorator, used bare or called (both spellings QTasks' docs
show)::

    @app.events.on.task_success
    def bare(**kwargs): ...

    @app.events.on.task_success()
    async def called(**kwargs): ...

The decorator returns the function unchanged, so it can still be called or tested
directly. Handlers run in the order they were registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])

#: Every event, in the order they happen.
EVENT_NAMES = (
    "starting",
    "worker_running",
    "task_running",
    "task_stopping",
    "task_success",
    "task_error",
    "task_cancel",
    "worker_stopping",
    "stopping",
)
#: The events of one task's run (only tasks of apps listening to them pay for them).
TASK_EVENTS = frozenset(
    {"task_running", "task_stopping", "task_success", "task_error", "task_cancel"}
)


class BaseOnEvents:
    """The handlers of each event (``_events``: event name -> handlers, QTasks' layout)."""

    def __init__(self) -> None:
        self._events: dict[str, list[Callable[..., Any]]] = {}
        self._watchers: list[Callable[[str], None]] = []

    def add(self, event_name: str, func: F) -> F:
        """Register ``func`` for ``event_name`` (what every decorator does)."""
        if event_name not in EVENT_NAMES:
            raise ValueError(f"unknown event {event_name!r}; events: {', '.join(EVENT_NAMES)}")
        if not callable(func):
            raise TypeError(f"an event handler must be callable, got {func!r}")
        self._events.setdefault(event_name, []).append(func)
        for watcher in list(self._watchers):
            watcher(event_name)
        return func

    def handlers(self, event_name: str) -> tuple[Callable[..., Any], ...]:
        """The handlers of ``event_name``, in registration order."""
        return tuple(self._events.get(event_name, ()))

    def _watch(self, watcher: Callable[[str], None]) -> None:
        """Call ``watcher(event_name)`` after each registration (the events hook re-checks
        which tasks it applies to)."""
        self._watchers.append(watcher)

    def _make_decorator(self, event_name: str) -> Callable[[F], F]:
        def decorator(func: F) -> F:
            return self.add(event_name, func)

        return decorator

    @overload
    def _decorate(self, event_name: str, func: None) -> Callable[[F], F]: ...

    @overload
    def _decorate(self, event_name: str, func: F) -> F: ...

    def _decorate(self, event_name: str, func: F | None) -> F | Callable[[F], F]:
        return self._make_decorator(event_name) if func is None else self.add(event_name, func)


class OnEvents(BaseOnEvents):
    """One decorator per event; each handler gets the event's keyword arguments."""

    def starting(self, func: Any = None) -> Any:
        """``app.run_forever()`` is starting: ``starter``, ``worker``, ``broker``."""
        return self._decorate("starting", func)

    def stopping(self, func: Any = None) -> Any:
        """``app.run_forever()`` has stopped its worker: ``starter``, ``worker``, ``broker``."""
        return self._decorate("stopping", func)

    def worker_running(self, func: Any = None) -> Any:
        """A worker connected and is about to take tasks: ``worker``, ``number``."""
        return self._decorate("worker_running", func)

    def worker_stopping(self, func: Any = None) -> Any:
        """A worker finished its last task: ``worker``, ``number``."""
        return self._decorate("worker_stopping", func)

    def task_running(self, func: Any = None) -> Any:
        """A run is about to call the task: ``worker``, ``task_func``, ``task_broker``."""
        return self._decorate("task_running", func)

    def task_stopping(self, func: Any = None) -> Any:
        """Every run, once it ended (a retried one too): ``worker``, ``task_func``,
        ``task_broker``, ``model``."""
        return self._decorate("task_stopping", func)

    def task_success(self, func: Any = None) -> Any:
        """The task succeeded: ``worker``, ``task_func``, ``task_broker``, ``model``."""
        return self._decorate("task_success", func)

    def task_error(self, func: Any = None) -> Any:
        """The task failed for good (no retry left): same arguments as ``task_success``."""
        return self._decorate("task_error", func)

    def task_cancel(self, func: Any = None) -> Any:
        """The task was cancelled while it ran: same arguments as ``task_success``."""
        return self._decorate("task_cancel", func)


__all__ = ["EVENT_NAMES", "TASK_EVENTS", "BaseOnEvents", "OnEvents"]
