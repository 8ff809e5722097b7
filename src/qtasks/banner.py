"""The line a worker starts with, the same from ``qtasks run`` and ``app.run_forever()``:
the app, the broker (password masked), how many tasks, which queues, the concurrency."""

from __future__ import annotations

from typing import Any

from qtasks.brokers.urls import display_url


def banner_parts(app: Any, worker: Any) -> list[tuple[str, str]]:
    """The banner as (text, rich style) pieces; ``"".join`` of the texts is the plain line."""
    return [
        ("qtasks", "bold green"),
        (" worker for ", ""),
        (app.name, "bold"),
        (" on ", ""),
        (display_url(app.broker_url), "cyan"),
        (
            f": {len(app.tasks)} tasks, queues {', '.join(worker.options.queues)}, "
            f"concurrency {worker.options.concurrency}",
            "",
        ),
    ]


def banner(app: Any, worker: Any) -> str:
    """The banner as one plain line (what ``run_forever`` logs)."""
    return "".join(text for text, _ in banner_parts(app, worker))
