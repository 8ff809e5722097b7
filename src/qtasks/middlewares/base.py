"""QTasks' ``BaseMiddleware``: the root of middleware classes (it only has a ``name``)."""

from __future__ import annotations


class BaseMiddleware:
    """Base of every middleware class."""

    def __init__(self, name: str) -> None:
        self.name = name
