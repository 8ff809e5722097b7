"""``SyncEvents``: ``events.fire(name, **kwargs)`` from plain sync code."""

from __future__ import annotations

from typing import Any

from qtasks.events.base import HandlerEvents
from qtasks.runner import LoopRunner

_runner = LoopRunner()


class SyncEvents(HandlerEvents):
    """The events of ``qtasks.QueueTasks``. The worker fires them from its loop exactly as
    ``AsyncEvents`` (``fire`` is only the blocking way to fire one by hand)."""

    def fire(self, event_name: str, *args: Any, **kwargs: Any) -> None:
        """Run the handlers of ``event_name`` here, in the calling thread (async ones on
        this thread's private loop); errors are logged."""
        _runner.run(self._dispatch(event_name, args, kwargs, offload=False))


__all__ = ["SyncEvents"]
