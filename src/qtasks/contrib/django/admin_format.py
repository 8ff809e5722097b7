"""What the admin pages show of the monitor's records: a chart's bars, Django's status of
a result, the backend's broker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from qtasks.brokers.urls import display_url
from qtasks.contrib.django.results import _STATUS as DJANGO_STATUS
from qtasks.core.errors import QTasksError
from qtasks.core.result import Task
from qtasks.core.status import TaskStatusEnum
from qtasks.monitor import QueueView


def django_status(task: Task) -> str:
    """The ``TaskResult`` status Django reports for a chain whose last attempt is ``task``."""
    return DJANGO_STATUS[TaskStatusEnum(task.status)]


def chart(view: QueueView, width: int = 4, height: int = 40) -> dict[str, Any]:
    """An inline SVG bar chart of one queue's finished tasks per minute (succeeded below,
    failed on top), as numbers for the template."""
    peak = max([1, *(row.succeeded + row.failed for row in view.minutes)])
    bars = []
    for n, row in enumerate(view.minutes):
        ok = round(row.succeeded / peak * height)
        bad = round(row.failed / peak * height)
        bars.append(
            {
                "x": n * width,
                "ok_y": height - ok,
                "ok_h": ok,
                "bad_y": height - ok - bad,
                "bad_h": bad,
                "title": (
                    f"{datetime.fromtimestamp(row.minute * 60, UTC):%H:%M} UTC: "
                    f"{row.enqueued} enqueued, {row.succeeded} succeeded, "
                    f"{row.failed} failed, {row.retried} retried"
                ),
            }
        )
    return {
        "width": width * len(view.minutes),
        "height": height,
        "bar": width - 1,
        "bars": bars,
        "peak": peak,
    }


def broker_of(backend: Any) -> str:
    """The backend's broker URL as shown (no password), or why it has none."""
    try:
        return display_url(backend.app.broker_url)
    except (ImproperlyConfigured, QTasksError) as exc:
        return f"not usable: {exc}"
