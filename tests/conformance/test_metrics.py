"""Prometheus metrics on every transport, read back with prometheus_client's own parser:
runs by final status, durations, enqueues, lease recoveries, and the HTTP endpoint."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from qtasks import QueueTasks
from qtasks.config import QueueConfig
from qtasks.metrics import Metrics, instrument, serve
from qtasks.testing import drain


@pytest.fixture
def metered(broker_url: str) -> Iterator[tuple[QueueTasks, CollectorRegistry]]:
    registry = CollectorRegistry()
    app = QueueTasks(name="metered", broker_url=broker_url, config=QueueConfig(retry_backoff=0))
    instrument(app, Metrics(registry))
    yield app, registry
    app.close()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition text, keyed by name and labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return found.get((name, frozenset(labels.items())), 0.0)


def test_runs_are_counted_by_final_status_with_durations(
    metered: tuple[QueueTasks, CollectorRegistry],
) -> None:
    app, registry = metered

    @app.task(queue="work")
    def ok(n: int) -> int:
        return n

    @app.task(queue="work", retry=1)
    def flaky() -> None:
        raise ValueError("always")

    app.add_tasks([ok(1), ok(2), ok(3), flaky()])
    drain(app)
    drain(app)  # the retry
    found = samples(generate_latest(registry).decode())
    base = {"app": "metered", "queue": "work"}
    assert value(found, "qtasks_tasks_total", **base, task="ok", status="success") == 3
    assert value(found, "qtasks_tasks_total", **base, task="flaky", status="retry") == 1
    assert value(found, "qtasks_tasks_total", **base, task="flaky", status="error") == 1
    assert value(found, "qtasks_task_duration_seconds_count", **base, task="ok") == 3
    assert value(found, "qtasks_task_duration_seconds_sum", **base, task="ok") > 0
    assert value(found, "qtasks_tasks_enqueued_total", **base, task="ok") == 3
    assert value(found, "qtasks_tasks_running", **base, task="ok") == 0
    assert value(found, "qtasks_lease_recoveries_total", **base, task="ok") == 0


def test_a_dead_workers_task_counts_as_a_lease_recovery(
    metered: tuple[QueueTasks, CollectorRegistry],
) -> None:
    app, registry = metered

    @app.task
    def survivor() -> str:
        return "ran again"

    task = survivor.add_task()

    async def claim_and_die() -> None:  # a worker that claims the task, then vanishes
        broker = app._client.new_broker()
        await broker.connect()
        try:
            got = await broker.claim(("default",), 1, lease=0.05, worker_id="dead", wait=1.0)
            assert [d.id for d in got] == [str(task.uuid)]  # type: ignore[union-attr]
        finally:
            await broker.close()
        await asyncio.sleep(0.1)

    asyncio.run(claim_and_die())
    drain(app)
    record = app.get(task.uuid)  # type: ignore[union-attr]
    assert record is not None and record.returning == "ran again" and record.attempt == 2
    found = samples(generate_latest(registry).decode())
    labels = {"app": "metered", "queue": "default", "task": "survivor"}
    assert value(found, "qtasks_lease_recoveries_total", **labels) == 1


def test_serve_exposes_the_metrics_over_http(
    metered: tuple[QueueTasks, CollectorRegistry],
) -> None:
    app, registry = metered

    @app.task
    def tick() -> None:
        return None

    tick.add_task()
    drain(app)
    server = serve(0, registry=registry)
    try:
        port = server.server_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
    finally:
        server.shutdown()
    found = samples(text)
    labels = {"app": "metered", "queue": "default", "task": "tick"}
    assert value(found, "qtasks_tasks_total", **labels, status="success") == 1
