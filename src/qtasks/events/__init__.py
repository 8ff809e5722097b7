"""QTasks path ``qtasks.events``: lifecycle events with ``@app.events.on.<event>``.

``SyncEvents`` and ``AsyncEvents`` share one implementation (they differ only in
whether ``fire`` is awaited); every app has one as ``app.events`` (``QueueTasks(
events=...)`` to give your own). Where each event fires and with which arguments:
:mod:`qtasks.events.hook`; the guide: ``docs/extending/events.md``.
"""

from qtasks.events.async_events import AsyncEvents
from qtasks.events.base import BaseEvents
from qtasks.events.events import EVENT_NAMES, OnEvents
from qtasks.events.hook import EventsHook
from qtasks.events.sync_events import SyncEvents

__all__ = ["EVENT_NAMES", "AsyncEvents", "BaseEvents", "EventsHook", "OnEvents", "SyncEvents"]
