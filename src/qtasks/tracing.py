"""OpenTelemetry tracing (the ``otel`` extra: ``opentelemetry-api`` only).

``qtasks.tracing.instrument(app)`` adds :class:`TracingHook` to the app's hook chain:

- each enqueue gets a ``PRODUCER`` span, ``publish <task>``, child of whatever span is
  current in the caller (a web request's, say); its context travels in the message
  headers as a W3C ``traceparent`` (and ``tracestate``, ``baggage``: whatever the global
  propagator writes);
- each execution gets a ``CONSUMER`` span, ``process <task>``, child of the publish
  span, current while the task runs — a span the task starts (sync tasks in the thread
  pool included) is its child, so one trace runs from the request through the task.

Attributes follow OpenTelemetry's messaging conventions (``messaging.system``,
``messaging.destination.name`` = the queue, ``messaging.message.id`` = the task id,
``messaging.operation.type``) plus ``qtasks.task.name``, ``qtasks.app`` and
``qtasks.attempt``. A task that raises records the exception and sets the span's status
to ``ERROR``. With no SDK configured, the API's no-op tracer makes this nearly free.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from qtasks.core.hooks import CallNext, EnqueueCall, Hook, Run
from qtasks.version import __version__

if TYPE_CHECKING:
    from qtasks.core.envelope import Envelope

#: Publish spans whose enqueue never reported back (it raised) are ended after this many
#: newer ones, so a failing producer cannot grow the table without bound.
_MAX_PENDING = 10_000


class TracingHook(Hook):
    """Spans around enqueue and execution; outermost, so a span covers every other hook."""

    order = 50

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer("qtasks", __version__, tracer_provider=tracer_provider)
        self._pending: OrderedDict[int, trace.Span] = OrderedDict()

    async def before_enqueue(self, call: EnqueueCall) -> None:
        app = call.app
        span = self._tracer.start_span(
            f"publish {call.task_name}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "qtasks",
                "messaging.operation.type": "publish",
                "qtasks.task.name": call.task_name,
                "qtasks.app": getattr(app, "name", ""),
            },
        )
        propagate.inject(call.headers, context=trace.set_span_in_context(span))
        self._pending[id(call)] = span
        while len(self._pending) > _MAX_PENDING:
            _, lost = self._pending.popitem(last=False)
            lost.set_status(Status(StatusCode.ERROR, "the enqueue did not complete"))
            lost.end()

    async def after_enqueue(self, call: EnqueueCall, envelope: Envelope) -> None:
        span = self._pending.pop(id(call), None)
        if span is None:
            return
        span.set_attribute("messaging.message.id", str(envelope.id))
        span.set_attribute("messaging.destination.name", envelope.queue)
        span.end()

    async def execute(self, run: Run, call_next: CallNext) -> Any:
        envelope = run.envelope
        parent = propagate.extract(envelope.headers)
        with self._tracer.start_as_current_span(
            f"process {envelope.task_name}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "qtasks",
                "messaging.operation.type": "process",
                "messaging.destination.name": envelope.queue,
                "messaging.message.id": str(envelope.id),
                "qtasks.task.name": envelope.task_name,
                "qtasks.attempt": run.delivery.attempt,
            },
        ):
            return await call_next(run)


def instrument(app: Any, tracer_provider: trace.TracerProvider | None = None) -> TracingHook:
    """Trace ``app``'s enqueues and executions (once: a second call returns the first hook)."""
    found: list[TracingHook] = app.hooks.of_type(TracingHook)
    if found:
        return found[0]
    hook = TracingHook(tracer_provider)
    app.add_hook(hook)
    return hook


__all__ = ["TracingHook", "instrument"]
