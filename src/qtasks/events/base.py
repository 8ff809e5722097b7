"""``BaseEvents`` and the one implementation of firing an event.

Handlers run one after the other, in registration order, with the event's keyword
arguments. An async handler is awaited on the worker's event loop; a sync one runs on
a thread (``asyncio.to_thread``), so it may block or use Django's ORM without stalling
the loop. A handler that raises is logged (logger ``qtasks.events``) and the next one
runs: an event never fails a task, a worker or ``run_forever``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from abc import ABC, abstractmethod
from typing import Any

from qtasks.events.events import OnEvents

log = logging.getLogger("qtasks.events")


class BaseEvents(ABC):
    """What an app's ``events`` object is: ``on`` (the decorators) and ``fire``.

    Subclass it to take events somewhere else: override ``fire`` (sync or async); the
    engine awaits what it returns and logs what it raises.
    """

    def __init__(self, on: OnEvents | None = None) -> None:
        self._on = on if on is not None else OnEvents()

    @property
    def on(self) -> OnEvents:
        """The decorators: ``@events.on.task_success``."""
        return self._on

    @abstractmethod
    def fire(self, event_name: str, *args: Any, **kwargs: Any) -> Any:
        """Run the handlers of ``event_name`` with these arguments."""

    def listens(self, event_name: str) -> bool:
        """Whether firing ``event_name`` may do anything (a custom ``fire``: always)."""
        return True

    async def emit(self, event_name: str, /, **kwargs: Any) -> None:
        """How the engine fires an event from the worker's loop; never raises."""
        try:
            result = self.fire(event_name, **kwargs)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except (Exception, SystemExit):
            log.exception("firing event %s failed", event_name)


class HandlerEvents(BaseEvents):
    """Events fired to the handlers registered with ``on`` (``AsyncEvents``, ``SyncEvents``)."""

    def listens(self, event_name: str) -> bool:
        return bool(self._on._events.get(event_name))

    async def emit(self, event_name: str, /, **kwargs: Any) -> None:
        await self._dispatch(event_name, (), kwargs, offload=True)

    async def _dispatch(
        self, event_name: str, args: tuple[Any, ...], kwargs: dict[str, Any], *, offload: bool
    ) -> None:
        """Call each handler; ``offload``: sync handlers on a thread (we are on a loop)."""
        for handler in self._on.handlers(event_name):
            try:
                if offload and not inspect.iscoroutinefunction(handler):
                    result = await asyncio.to_thread(handler, *args, **kwargs)
                else:
                    result = handler(*args, **kwargs)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except (Exception, SystemExit):
                log.exception(
                    "handler %s of event %s failed",
                    getattr(handler, "__qualname__", repr(handler)),
                    event_name,
                )


__all__ = ["BaseEvents", "HandlerEvents"]
