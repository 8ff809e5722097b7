"""Bad input never kills a worker: thousands of malformed messages, stored by the real
transport exactly as generated, each end as a dead letter with a clear error.

The broker module's ``encode_envelope`` is swapped for one that returns the generated
bytes, so every transport stores the garbage through its own enqueue path (its own
SQL, Lua or in-memory code) with nothing known about its keys or tables.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qtasks import QueueTasks, TaskStatusEnum
from qtasks.brokers.urls import broker_factory
from qtasks.core.envelope import Envelope
from qtasks.core.ids import new_task_id
from qtasks.testing import drain

pytestmark = pytest.mark.timeout(300)

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)
#: Envelope fields with the wrong types or missing, and odd task names of unregistered tasks.
_wrong_envelopes = st.fixed_dictionaries(
    {},
    optional={
        "id": _json,
        "task_name": st.text() | _json,
        "queue": _json,
        "args": _json,
        "kwargs": _json,
        "priority": _json,
        "eta": _json,
        "headers": _json,
    },
)
_odd_names = st.text(min_size=0, max_size=300).map(
    lambda name: {"task_name": "unregistered:" + name, "args": [], "kwargs": {}}
)
_bodies = st.one_of(
    st.binary(max_size=200),
    _json.map(msgspec.json.encode),
    _wrong_envelopes.map(msgspec.json.encode),
    _odd_names.map(msgspec.json.encode),
    st.just(b"\xff\xfe\x00garbage"),
)


def _store_raw(broker_url: str, bodies: list[bytes]) -> list[str]:
    """Enqueue one message per body through the transport, the body stored as given."""
    broker = broker_factory(broker_url)()
    module = importlib.import_module(type(broker).__module__)
    original = module.encode_envelope
    queue = iter(bodies)
    module.encode_envelope = lambda envelope: next(queue)
    now = time.time()
    envelopes = [
        Envelope(id=new_task_id(), task_name="fuzz", queue="default", eta=now, created_at=now)
        for _ in bodies
    ]
    try:

        async def send() -> None:
            await broker.connect()
            for envelope in envelopes:
                await broker.enqueue([envelope])
            await broker.close()

        asyncio.run(send())
    finally:
        module.encode_envelope = original
    return [e.id for e in envelopes]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(bodies=st.lists(_bodies, min_size=60, max_size=120))
def test_malformed_messages_become_dead_letters_not_crashes(
    broker_url: str, bodies: list[bytes]
) -> None:
    app = QueueTasks(broker_url=broker_url)

    @app.task
    def fine(x: Any = None) -> Any:
        return x

    app.flush_all()
    ids = _store_raw(broker_url, bodies)
    good = fine.add_task(1)  # the worker still serves real work after all that
    processed = drain(app)
    assert processed == len(ids) + 1
    assert app.get(good.uuid).status == TaskStatusEnum.SUCCESS
    dead = {str(t.uuid): t for t in app.dead_letters(limit=None)}
    assert set(dead) == set(ids)
    for task in dead.values():
        error = (task.traceback or "").splitlines()[-1]
        assert error.startswith(
            ("qtasks.core.errors.MessageDecodeError", "qtasks.core.errors.TaskNotFoundError")
        ), error
    app.close()
