"""Values no transport can carry are refused in the caller, the same way on every
transport, and nothing is enqueued; values JSON changes on the way are documented in
docs/tasks.md and arrive as documented."""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qtasks import QueueTasks
from qtasks.config import QueueConfig
from qtasks.testing import drain


def nested(depth: int) -> list[Any]:
    root: list[Any] = []
    current = root
    for _ in range(depth - 1):
        inner: list[Any] = []
        current.append(inner)
        current = inner
    return root


def depth_of(value: Any) -> int:
    depth = 0
    while isinstance(value, list):
        depth += 1
        value = value[0] if value else None
    return depth


@pytest.mark.parametrize(
    ("options", "error", "why"),
    [
        ({"priority": 2**63}, ValueError, "64-bit"),
        ({"priority": -(2**63) - 1}, ValueError, "64-bit"),
        ({"priority": 1.5}, TypeError, "integer"),
        ({"priority": True}, TypeError, "integer"),
        ({"eta": math.nan}, ValueError, "finite"),
        ({"eta": math.inf}, ValueError, "finite"),
        ({"eta": -math.inf}, ValueError, "finite"),
    ],
)
def test_call_options_no_transport_stores_are_refused(
    broker_url: str, options: dict[str, Any], error: type[Exception], why: str
) -> None:
    app = QueueTasks(broker_url=broker_url)

    @app.task
    def noop() -> None:
        return None

    with pytest.raises(error, match=why):
        noop().add_task(**options)
    if "priority" in options:
        with pytest.raises(error, match=why):
            app.add_task("noop", priority=options["priority"])
    assert sum(app.count().values()) == 0
    app.close()


def test_arguments_no_transport_carries_are_refused(broker_url: str) -> None:
    app = QueueTasks(broker_url=broker_url)

    @app.task
    def take(value: Any) -> None:
        return None

    with pytest.raises(ValueError, match="lone surrogate"):
        take.add_task("a\ud800")
    with pytest.raises(ValueError, match="nested too deeply"):
        take.add_task(nested(5_000))
    with pytest.raises(TypeError, match="not JSON-serializable"):
        take.add_task(object())
    assert sum(app.count().values()) == 0
    app.close()


def test_what_the_caller_could_send_the_worker_can_read(broker_url: str) -> None:
    """The deepest nesting a caller can encode decodes in the worker too (on a fresh
    thread's stack when the worker's own is too deep for it)."""
    app = QueueTasks(broker_url=broker_url)

    @app.task
    def measure(value: Any) -> int:
        return depth_of(value)

    depth = 100
    while True:  # the deepest this caller can send
        try:
            record = measure.add_task(nested(depth + 100))
        except ValueError:
            break
        app.flush_all()
        depth += 100
    record = measure.add_task(nested(depth))
    assert record is not None and drain(app) == 1
    final = app.get(record.uuid)
    assert final is not None and final.status == "success", final.traceback
    assert final.returning == depth
    app.close()


def test_values_json_changes_arrive_as_documented(broker_url: str) -> None:
    app = QueueTasks(broker_url=broker_url)

    @app.task
    def show(*values: Any) -> list[str]:
        return [f"{type(v).__name__}:{v!r}" for v in values]

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    record = show.add_task((1, 2), b"ab", math.nan, when, {3}, 2**70)
    assert record is not None and drain(app) == 1
    final = app.get(record.uuid)
    assert final is not None and final.returning == [
        "list:[1, 2]",
        "str:'YWI='",
        "NoneType:None",
        "str:'2026-01-02T03:04:05Z'",
        "list:[3]",
        f"int:{2**70}",
    ]
    app.close()


def test_messages_above_max_message_bytes_are_refused_in_the_caller(broker_url: str) -> None:
    small = QueueTasks(broker_url=broker_url, config=QueueConfig(max_message_bytes=1_000))
    unlimited = QueueTasks(broker_url=broker_url, config=QueueConfig(max_message_bytes=None))
    assert QueueConfig().max_message_bytes == 16 * 1024 * 1024

    with pytest.raises(ValueError, match="more than max_message_bytes=1,000"):
        small.add_task("upload", "x" * 2_000)
    with pytest.raises(ValueError, match="max_message_bytes"):
        small.add_tasks([("upload", ("x" * 2_000,))])
    assert sum(small.count().values()) == 0
    assert small.add_task("upload", "x" * 500) is not None
    assert unlimited.add_task("upload", "x" * 200_000) is not None
    assert sum(unlimited.count().values()) == 2  # one namespace: both apps are "QueueTasks"
    small.close()
    unlimited.close()


_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()  # lone surrogates and NUL included
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(
    max_examples=60,
    deadline=None,
    # each example has an app (a namespace) of its own on the transport the fixture gives
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    priority=st.integers() | st.floats() | st.none(),
    eta=st.floats() | st.none(),
    values=st.lists(_values, max_size=3),
)
def test_any_call_is_either_refused_in_the_caller_or_runs(
    broker_url: str, priority: Any, eta: float | None, values: list[Any]
) -> None:
    """Whatever a caller passes: a ``TypeError``/``ValueError`` before anything is stored,
    or a task that runs and sees its arguments as JSON carries them."""
    app = QueueTasks(broker_url=broker_url, name=f"fuzz-{uuid.uuid4().hex}")

    @app.task
    def echo(*args: Any) -> list[Any]:
        return list(args)

    now = time.time()
    when = None if eta is None else (now if math.isfinite(eta) else eta)  # due at once
    try:
        record = echo(*values).add_task(priority=priority, eta=when)
    except (TypeError, ValueError):
        assert sum(app.count().values()) == 0
        app.close()
        return
    assert record is not None and drain(app) == 1
    final = app.get(record.uuid)
    assert final is not None and final.status == "success", final.traceback
    assert final.returning == msgspec.json.decode(msgspec.json.encode(values))
    app.flush_all()
    app.close()


def test_a_large_message_is_decoded_off_the_loop_and_runs(broker_url: str) -> None:
    """Bodies over 1 MiB are decoded on a thread (the worker's loop keeps serving)."""
    app = QueueTasks(broker_url=broker_url)

    @app.task
    def size(blob: str) -> int:
        return len(blob)

    record = size.add_task("x" * (3 * 1024 * 1024))
    assert record is not None and drain(app) == 1
    final = app.get(record.uuid)
    assert final is not None and final.returning == 3 * 1024 * 1024
    app.close()
