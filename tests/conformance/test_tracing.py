"""OpenTelemetry tracing on every transport: the trace context crosses the broker in the
message headers, so the caller's span, the publish span, the process span and the spans a
task starts (sync tasks in the thread pool too) are one trace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from qtasks import QueueTasks
from qtasks.testing import drain
from qtasks.tracing import TracingHook, instrument


@pytest.fixture
def traced(broker_url: str) -> Iterator[tuple[QueueTasks, TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = QueueTasks(name="traced", broker_url=broker_url)
    instrument(app, tracer_provider=provider)
    yield app, provider, exporter
    app.close()


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def test_one_trace_from_the_caller_through_the_task(
    traced: tuple[QueueTasks, TracerProvider, InMemorySpanExporter],
) -> None:
    app, provider, exporter = traced
    tracer = provider.get_tracer("test")

    @app.task
    def lookup(key: str) -> str:  # a sync task: it runs on the worker's thread pool
        with tracer.start_as_current_span("inside the task"):
            return key.upper()

    with tracer.start_as_current_span("web request") as request:
        task = lookup.add_task("k")
    assert task is not None
    assert drain(app) == 1
    assert app.get(task.uuid).returning == "K"  # type: ignore[union-attr]

    spans = exporter.get_finished_spans()
    publish = by_name(spans, "publish lookup")
    process = by_name(spans, "process lookup")
    inner = by_name(spans, "inside the task")
    trace_id = request.get_span_context().trace_id
    assert {s.context.trace_id for s in (publish, process, inner)} == {trace_id}
    assert publish.parent is not None and publish.parent.span_id == request.context.span_id
    assert process.parent is not None and process.parent.span_id == publish.context.span_id
    assert inner.parent is not None and inner.parent.span_id == process.context.span_id
    assert publish.kind is SpanKind.PRODUCER and process.kind is SpanKind.CONSUMER
    assert publish.attributes is not None and process.attributes is not None
    assert publish.attributes["messaging.message.id"] == str(task.uuid)
    assert process.attributes["messaging.message.id"] == str(task.uuid)
    assert process.attributes["messaging.destination.name"] == "default"
    assert process.attributes["qtasks.attempt"] == 1
    assert process.status.status_code is StatusCode.UNSET


def test_a_failing_task_marks_its_span(
    traced: tuple[QueueTasks, TracerProvider, InMemorySpanExporter],
) -> None:
    app, _, exporter = traced

    @app.task
    async def broken() -> None:
        raise LookupError("no such row")

    broken.add_task()
    drain(app)
    process = by_name(exporter.get_finished_spans(), "process broken")
    assert process.status.status_code is StatusCode.ERROR
    assert [e.name for e in process.events] == ["exception"]
    assert process.events[0].attributes is not None
    assert process.events[0].attributes["exception.type"].endswith("LookupError")


def test_bulk_enqueue_gets_a_span_per_message_and_instrument_is_idempotent(
    traced: tuple[QueueTasks, TracerProvider, InMemorySpanExporter],
) -> None:
    app, provider, exporter = traced
    assert instrument(app, tracer_provider=provider) is app.hooks.of_type(TracingHook)[0]
    assert len(app.hooks.of_type(TracingHook)) == 1

    @app.task
    def one(n: int) -> int:
        return n

    sent = app.add_tasks([one(1), one(2), one(3)])
    assert drain(app) == 3
    spans = exporter.get_finished_spans()
    publishes = [s for s in spans if s.name == "publish one"]
    processes = [s for s in spans if s.name == "process one"]
    assert sorted(s.attributes["messaging.message.id"] for s in publishes) == sorted(  # type: ignore[index]
        str(t.uuid) for t in sent
    )
    parents = {s.parent.span_id for s in processes if s.parent is not None}
    assert parents == {s.context.span_id for s in publishes}
