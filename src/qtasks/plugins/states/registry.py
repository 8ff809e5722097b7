"""Where State values live: one bucket of key -> value per state class, in this process."""

from __future__ import annotations

import threading
from typing import Any


class StateRegistry:
    """The buckets of every state class, behind one lock.

    A ``threading.Lock`` serves both kinds of task: each operation holds it for a dict
    step only, so async tasks on the loop and sync tasks on worker threads never see a
    bucket half-changed and the loop never waits on it for long.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[type, dict[str, Any]] = {}

    def _bucket(self, state_cls: type) -> dict[str, Any]:
        bucket = self._buckets.get(state_cls)
        if bucket is None:
            bucket = self._buckets[state_cls] = {}
        return bucket

    def get(self, state_cls: type, key: str, default: Any = None) -> Any:
        """The value under ``key``, else ``default``."""
        with self._lock:
            return self._bucket(state_cls).get(key, default)

    def get_all(self, state_cls: type) -> dict[str, Any]:
        """A copy of the whole bucket."""
        with self._lock:
            return dict(self._bucket(state_cls))

    def set(self, state_cls: type, key: str, value: Any) -> None:
        """Store ``value`` under ``key``."""
        with self._lock:
            self._bucket(state_cls)[key] = value

    def update(self, state_cls: type, mapping: dict[str, Any]) -> dict[str, Any]:
        """Store every item of ``mapping``; returns a copy of the bucket afterwards."""
        with self._lock:
            bucket = self._bucket(state_cls)
            bucket.update(mapping)
            return dict(bucket)

    def delete(self, state_cls: type, key: str) -> None:
        """Remove ``key`` (no error if absent)."""
        with self._lock:
            self._bucket(state_cls).pop(key, None)

    def clear(self, state_cls: type) -> None:
        """Empty the bucket."""
        with self._lock:
            self._bucket(state_cls).clear()


#: QTasks' names: its sync and async registries are one class here (see :class:`StateRegistry`).
SyncStateRegistry = StateRegistry
AsyncStateRegistry = StateRegistry
