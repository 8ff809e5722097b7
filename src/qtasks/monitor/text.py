"""How the monitor's values read in a page (the dashboard, Django's admin): times in UTC,
arguments and results as JSON text, rates as percentages, a traceback's last line.
Plain text: the templates escape it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def when(moment: datetime | float | None) -> str:
    """A time (a datetime, or Unix time) as ``YYYY-MM-DD HH:MM:SS`` UTC; ``""`` for none."""
    if moment is None:
        return ""
    if isinstance(moment, (int, float)):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def shown(value: Any) -> str:
    """A task's arguments or result as JSON text (what cannot be JSON: its repr)."""
    return json.dumps(value, ensure_ascii=False, default=repr)


def percent(rate: float | None) -> str:
    """``0.25`` as ``25.0%``; ``-`` when there is no rate."""
    return "-" if rate is None else f"{rate:.1%}"


def error_line(traceback: str | None) -> str:
    """The last line of a traceback: the exception and its message."""
    lines = (traceback or "").strip().splitlines()
    return lines[-1] if lines else ""
