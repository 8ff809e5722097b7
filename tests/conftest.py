"""Shared fixtures. ``broker_url`` is THE transport fixture: every conformance
test runs once per transport it lists, each test in a fresh namespace."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Every transport of the conformance suite; each later transport joins this list.
TRANSPORTS = ["memory", "sqlite"]


@pytest.fixture(params=TRANSPORTS)
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL for an empty queue on one transport."""
    name: str = request.param
    if name == "memory":
        yield f"memory://{uuid.uuid4().hex}"
    elif name == "sqlite":
        yield f"sqlite:///{tmp_path / 'qtasks.sqlite3'}"
    else:  # pragma: no cover - a transport listed but not wired is a bug in this file
        raise AssertionError(f"no fixture for transport {name}")
