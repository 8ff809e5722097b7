"""``SyncState`` / ``AsyncState``: subclass one, annotate a task parameter with it, and the
worker passes an object reading and writing that class's bucket of the app's registry."""

from __future__ import annotations

import typing
from typing import Any

from qtasks.plugins.states.registry import StateRegistry


class _StateBase:
    """What both kinds share: the registry and the class whose bucket they use."""

    #: Read (by duck type) by the worker's argument binding: this parameter is not the caller's.
    __qtasks_injected__ = True

    __slots__ = ("_cls", "_registry")

    def __init__(self, registry: StateRegistry, state_cls: type[_StateBase]) -> None:
        self._registry = registry
        self._cls = state_cls

    def __repr__(self) -> str:
        return f"<{self._cls.__qualname__} {self._registry.get_all(self._cls)!r}>"


class SyncState(_StateBase):
    """State for sync code: each method returns at once."""

    __slots__ = ()

    def get(self, key: str | None = None, default: Any = None) -> Any:
        """The value under ``key`` (``default`` if absent); every value when ``key`` is None."""
        if key is None:
            return self._registry.get_all(self._cls)
        return self._registry.get(self._cls, key, default)

    def get_all(self) -> dict[str, Any]:
        """A copy of every value."""
        return self._registry.get_all(self._cls)

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``."""
        self._registry.set(self._cls, key, value)

    def update(self, **values: Any) -> dict[str, Any]:
        """Store several values; returns a copy of every value afterwards."""
        return self._registry.update(self._cls, values)

    def delete(self, key: str) -> None:
        """Remove ``key`` (no error if absent)."""
        self._registry.delete(self._cls, key)

    def clear(self) -> None:
        """Remove every value."""
        self._registry.clear(self._cls)


class AsyncState(_StateBase):
    """State for async code: the same operations as :class:`SyncState`, awaited."""

    __slots__ = ()

    async def get(self, key: str | None = None, default: Any = None) -> Any:
        """The value under ``key`` (``default`` if absent); every value when ``key`` is None."""
        if key is None:
            return self._registry.get_all(self._cls)
        return self._registry.get(self._cls, key, default)

    async def get_all(self) -> dict[str, Any]:
        """A copy of every value."""
        return self._registry.get_all(self._cls)

    async def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``."""
        self._registry.set(self._cls, key, value)

    async def update(self, **values: Any) -> dict[str, Any]:
        """Store several values; returns a copy of every value afterwards."""
        return self._registry.update(self._cls, values)

    async def delete(self, key: str) -> None:
        """Remove ``key`` (no error if absent)."""
        self._registry.delete(self._cls, key)

    async def clear(self) -> None:
        """Remove every value."""
        self._registry.clear(self._cls)


def state_class(annotation: Any, *, accept_annotated: bool = True) -> type[_StateBase] | None:
    """The state class a parameter annotation names (``MyState`` or, when
    ``accept_annotated``, ``Annotated[MyState, ...]``), else ``None``."""
    if accept_annotated and typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if isinstance(annotation, type) and issubclass(annotation, (SyncState, AsyncState)):
        return annotation
    return None
