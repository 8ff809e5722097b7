"""``/metrics`` of the dashboard: what the broker holds now, for Prometheus (the workers'
own ``--metrics-port`` serves their run counters and durations).

Gauges, read at each scrape: ``qtasks_queue_depth{app,queue,state}`` (ready, delayed,
running), ``qtasks_queue_minute_tasks{app,queue,outcome}`` (the last complete minute's
enqueued / succeeded / failed / retried / cancelled), ``qtasks_tasks{app,status}``
(stored tasks by status) and ``qtasks_workers{app,state}`` (alive, stopped, dead).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from qtasks.core.inspection import COUNT_FIELDS
from qtasks.monitor import AsyncMonitor

_OUTCOMES = COUNT_FIELDS


def metrics_endpoint(monitor: AsyncMonitor) -> Callable[[Request], Awaitable[Response]]:
    """The ``/metrics`` handler (404 with the reason when prometheus_client is missing)."""

    async def endpoint(request: Request) -> Response:
        try:
            from prometheus_client import CollectorRegistry, generate_latest
            from prometheus_client.core import GaugeMetricFamily
            from prometheus_client.exposition import CONTENT_TYPE_LATEST
        except ImportError:
            return PlainTextResponse(
                "metrics need prometheus_client: install qtasks with the metrics extra", 404
            )
        overview = await monitor.overview(minutes=2, failures=0)
        app = monitor.app.name
        depth = GaugeMetricFamily(
            "qtasks_queue_depth", "Tasks not yet final, now", labels=["app", "queue", "state"]
        )
        minute = GaugeMetricFamily(
            "qtasks_queue_minute_tasks",
            "Tasks of the last complete minute, by outcome",
            labels=["app", "queue", "outcome"],
        )
        for view in overview.queues:
            for state in ("ready", "delayed", "running"):
                depth.add_metric([app, view.name, state], getattr(view.depth, state))
            last = view.minutes[0]  # the window is the last complete minute and this one
            for outcome in _OUTCOMES:
                minute.add_metric([app, view.name, outcome], getattr(last, outcome))
        stored = GaugeMetricFamily(
            "qtasks_tasks", "Stored tasks by status", labels=["app", "status"]
        )
        for status, n in sorted(overview.counts.items()):
            stored.add_metric([app, status], n)
        workers = GaugeMetricFamily(
            "qtasks_workers", "Workers heard of in the last hour", labels=["app", "state"]
        )
        for state in ("alive", "stopped", "dead"):
            workers.add_metric([app, state], sum(1 for w in overview.workers if w.state == state))
        families = [depth, minute, stored, workers]

        class Snapshot:
            def collect(self) -> Any:
                return iter(families)

        registry = CollectorRegistry()
        registry.register(Snapshot())
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return endpoint
