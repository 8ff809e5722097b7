"""Prometheus metrics (the ``metrics`` extra: ``prometheus_client``).

``qtasks.metrics.instrument(app)`` adds :class:`MetricsHook` to the app's hook chain; the
worker then counts, per app, queue and task (labels ``app``, ``queue``, ``task``):

==========================================  ==========  =====================================
metric                                      type        what
==========================================  ==========  =====================================
``qtasks_tasks_total{status}``              counter     runs finished, by final status:
                                                        ``success``, ``error``, ``retry``,
                                                        ``cancel``
``qtasks_task_duration_seconds``            histogram   wall time of each run (hooks included)
``qtasks_tasks_running``                    gauge       runs in progress now
``qtasks_lease_recoveries_total``           counter     runs of a task whose previous worker
                                                        died holding it (attempt > 1)
``qtasks_tasks_enqueued_total``             counter     tasks this process enqueued
==========================================  ==========  =====================================

:func:`serve` (or ``qtasks -A m:app run --metrics-port 9100``) exposes them over HTTP for
Prometheus to scrape; :func:`qtasks.metrics.registry` is the registry they live in.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from qtasks.core.hooks import CallNext, EnqueueCall, Hook, Run

if TYPE_CHECKING:
    from qtasks.core.envelope import Envelope
    from qtasks.core.records import Outcome

#: Buckets of the duration histogram, in seconds: 1 ms to 10 min.
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 600)

_LABELS = ("app", "queue", "task")


class Metrics:
    """The metric families, registered once in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.finished = Counter(
            "qtasks_tasks",
            "Task runs finished, by final status.",
            (*_LABELS, "status"),
            registry=registry,
        )
        self.duration = Histogram(
            "qtasks_task_duration_seconds",
            "Wall time of each task run, in seconds.",
            _LABELS,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.running = Gauge(
            "qtasks_tasks_running", "Task runs in progress now.", _LABELS, registry=registry
        )
        self.recovered = Counter(
            "qtasks_lease_recoveries",
            "Runs of a task whose previous worker died while running it.",
            _LABELS,
            registry=registry,
        )
        self.enqueued = Counter(
            "qtasks_tasks_enqueued",
            "Tasks enqueued by this process.",
            _LABELS,
            registry=registry,
        )


_default: Metrics | None = None


def registry() -> CollectorRegistry:
    """The registry qtasks' metrics are in (``prometheus_client``'s default one)."""
    return _metrics().registry


def _metrics() -> Metrics:
    global _default
    if _default is None:
        from prometheus_client import REGISTRY

        _default = Metrics(REGISTRY)
    return _default


class MetricsHook(Hook):
    """Counts enqueues and runs; outer, so a run's time includes the other hooks'."""

    order = 60

    def __init__(self, app_name: str, metrics: Metrics | None = None) -> None:
        self.app_name = app_name
        self.metrics = metrics or _metrics()
        self._children: dict[tuple[str, str], tuple[Any, Any, Any]] = {}

    def _of(self, queue: str, task: str) -> tuple[Any, Any, Any]:
        """The (duration, running, recovered) children of one queue and task, cached: a
        label lookup costs more than the observation itself."""
        key = (queue, task)
        found = self._children.get(key)
        if found is None:
            labels = (self.app_name, queue, task)
            m = self.metrics
            found = (
                m.duration.labels(*labels),
                m.running.labels(*labels),
                m.recovered.labels(*labels),
            )
            self._children[key] = found
        return found

    async def after_enqueue(self, call: EnqueueCall, envelope: Envelope) -> None:
        self.metrics.enqueued.labels(self.app_name, envelope.queue, envelope.task_name).inc()

    async def execute(self, run: Run, call_next: CallNext) -> Any:
        envelope = run.envelope
        _, running, recovered = self._of(envelope.queue, envelope.task_name)
        if run.delivery.attempt > 1:
            recovered.inc()
        running.inc()
        try:
            return await call_next(run)
        finally:
            running.dec()

    async def outcome(self, run: Run, outcome: Outcome, error: BaseException | None) -> Outcome:
        envelope = run.envelope
        duration, _, _ = self._of(envelope.queue, envelope.task_name)
        duration.observe(time.perf_counter() - run.started)
        self.metrics.finished.labels(
            self.app_name, envelope.queue, envelope.task_name, outcome.status.value
        ).inc()
        return outcome


def instrument(app: Any, metrics: Metrics | None = None) -> MetricsHook:
    """Count ``app``'s enqueues and runs (once: a second call returns the first hook)."""
    found: list[MetricsHook] = app.hooks.of_type(MetricsHook)
    if found:
        return found[0]
    hook = MetricsHook(app.name, metrics)
    app.add_hook(hook)
    return hook


def serve(port: int, addr: str = "127.0.0.1", registry: CollectorRegistry | None = None) -> Any:
    """Serve ``/metrics`` on ``addr:port`` from a daemon thread; returns the server."""
    server, _thread = start_http_server(port, addr=addr, registry=registry or _metrics().registry)
    return server


__all__ = ["DURATION_BUCKETS", "Metrics", "MetricsHook", "instrument", "registry", "serve"]
