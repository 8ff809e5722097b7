"""``AsyncEvents``: ``await events.fire(name, **kwargs)``."""

from __future__ import annotations

from typing import Any

from qtasks.events.base import HandlerEvents


class AsyncEvents(HandlerEvents):
    """The events of ``qtasks.asyncio.QueueTasks`` (usable by any app)."""

    async def fire(self, event_name: str, *args: Any, **kwargs: Any) -> None:
        """Run the handlers of ``event_name`` (sync ones on a thread); errors are logged."""
        await self._dispatch(event_name, args, kwargs, offload=True)


__all__ = ["AsyncEvents"]
