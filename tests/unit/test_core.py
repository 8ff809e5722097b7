"""Unit tests of the pure core: envelope, statuses, definitions, retry math, records."""

from __future__ import annotations

import contextlib
import random
import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qtasks.core.definition import TaskKind, build_definition, kind_of
from qtasks.core.envelope import (
    Envelope,
    decode_envelope,
    decode_value,
    encode_envelope,
    encode_value,
    peek_task_name,
)
from qtasks.core.errors import ConfigurationError, MessageDecodeError
from qtasks.core.records import StoredTask
from qtasks.core.result import record_from_stored
from qtasks.core.retry import backoff_delay
from qtasks.core.status import TaskStatusEnum

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


def make(**kw: object) -> Envelope:
    base: dict[str, object] = {"id": str(uuid.uuid4()), "task_name": "t", "queue": "default"}
    base.update(kw)
    return Envelope(**base)  # type: ignore[arg-type]


@given(
    name=st.text(min_size=1),
    args=st.lists(json_values, max_size=5),
    kwargs=st.dictionaries(st.text(), json_values, max_size=5),
    priority=st.integers(-100, 100),
)
def test_envelope_round_trips(
    name: str, args: list[object], kwargs: dict[str, object], priority: int
) -> None:
    env = make(task_name=name, args=tuple(args), kwargs=kwargs, priority=priority)
    assert decode_envelope(encode_envelope(env)) == env


def test_unserializable_argument_is_a_type_error_naming_the_task() -> None:
    with pytest.raises(TypeError, match="'send'"):
        encode_envelope(make(task_name="send", args=(object(),)))


@given(st.binary())
def test_decoding_garbage_raises_message_decode_error(body: bytes) -> None:
    with contextlib.suppress(MessageDecodeError):
        decode_envelope(body)


def test_wrongly_typed_envelope_is_rejected() -> None:
    with pytest.raises(MessageDecodeError):
        decode_envelope(b'{"id": 1, "task_name": "t", "queue": "q"}')
    assert peek_task_name(b'{"task_name": "x:y", "id": 5}') == "x:y"
    assert peek_task_name(b"\xff\x00") is None


def test_values_round_trip_and_reject_objects() -> None:
    assert decode_value(encode_value({"a": [1, 2.5, None]})) == {"a": [1, 2.5, None]}
    assert decode_value(None) is None
    with pytest.raises(TypeError):
        encode_value(object())


def test_status_values_are_qtasks_strings() -> None:
    assert [s.value for s in TaskStatusEnum] == [
        "new",
        "process",
        "success",
        "error",
        "cancel",
        "retry",
    ]
    assert TaskStatusEnum.SUCCESS == "success"
    assert TaskStatusEnum.RETRY.is_final and not TaskStatusEnum.PROCESS.is_final


def test_kind_of_recognises_the_four_shapes() -> None:
    def f() -> None: ...
    async def af() -> None: ...
    def g():  # type: ignore[no-untyped-def]
        yield 1

    async def ag():  # type: ignore[no-untyped-def]
        yield 1

    assert [kind_of(x) for x in (f, af, g, ag)] == [
        TaskKind.SYNC,
        TaskKind.ASYNC,
        TaskKind.SYNC_GENERATOR,
        TaskKind.ASYNC_GENERATOR,
    ]


def _definition(**kw: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = dict(
        name=None,
        queue="default",
        priority=None,
        default_priority=0,
        echo=False,
        max_time=None,
        retry=None,
        retry_on_exc=None,
        retry_backoff=1.0,
        retry_backoff_max=300.0,
        decode=None,
        generate_handler=None,
        tags=None,
        description=None,
        executor=None,
        extra={},
    )
    options.update(kw)

    def my_task() -> None:
        """Docstring becomes the description."""

    return build_definition(my_task, **options)  # type: ignore[arg-type]


def test_definition_defaults() -> None:
    d = _definition()
    assert d.name == "my_task" and d.priority == 0 and d.retry == 0
    assert d.description == "Docstring becomes the description."


@pytest.mark.parametrize(
    "bad",
    [
        {"max_time": 0},
        {"retry": -1},
        {"retry_on_exc": ["ValueError"]},
        {"executor": "gpu"},
        {"name": ""},
    ],
)
def test_definition_rejects_bad_options(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        _definition(**bad)


def test_retry_matches_subclasses_only_of_listed_exceptions() -> None:
    d = _definition(retry=2, retry_on_exc=[LookupError])
    assert d.should_retry(KeyError(), retries_left=1)
    assert not d.should_retry(ValueError(), retries_left=1)
    assert not d.should_retry(KeyError(), retries_left=0)
    assert not _definition(retry=2).should_retry(KeyboardInterrupt(), retries_left=2)


def test_backoff_is_jittered_below_an_exponential_cap() -> None:
    rng = random.Random(1)
    for n in range(1, 12):
        cap = min(60.0, 0.5 * 2 ** (n - 1))
        delays = [backoff_delay(n, base=0.5, maximum=60.0, rng=rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # full jitter spreads over the whole range
    assert backoff_delay(3, base=0) == 0.0
    with pytest.raises(ValueError):
        backoff_delay(0)


def test_record_from_stored_uses_qtasks_field_names() -> None:
    env = make(args=(1, 2), kwargs={"k": "v"}, retries_left=2)
    now = time.time()
    stored = StoredTask(
        id=env.id,
        task_name="t",
        queue="default",
        status=TaskStatusEnum.SUCCESS,
        priority=3,
        body=encode_envelope(env),
        attempt=1,
        created_at=now,
        updated_at=now,
        result=encode_value([1]),
    )
    record = record_from_stored(stored, None)
    assert record.uuid == uuid.UUID(env.id) and record.args == (1, 2)
    assert record.kwargs == {"k": "v"} and record.returning == [1] and record.retry == 2
    assert record.status == "success" and record.priority == 3
    with pytest.raises(RuntimeError):
        record.wait_result(1)


def test_any_undecodable_body_is_a_message_decode_error() -> None:
    from qtasks.core.envelope import decode_envelope, peek_task_name
    from qtasks.core.errors import MessageDecodeError

    deep = b'{"id": "1", "task_name": "t", "queue": "q", "args": [' + b"[" * 10_000
    deep += b"]" * 10_000 + b"]}"
    for body in (deep, b"\xff\xfe", b'{"id": 1}', b"[]", b""):
        with pytest.raises(MessageDecodeError):
            decode_envelope(body)
        peek_task_name(body)  # never raises either


def test_outcome_texts_no_store_accepts_are_escaped_with_a_note() -> None:
    from qtasks.core.records import ESCAPED_NOTE, Outcome, storable

    plain = Outcome(id="1", status=TaskStatusEnum.ERROR, traceback="é ok", finished_at=0.0)
    assert storable(plain) is plain  # nothing to do: the same object, no copy
    bad = Outcome(
        id="1",
        status=TaskStatusEnum.ERROR,
        traceback="ValueError: a\ud800b\x00c",
        error_type="m.E\x00",
        cancel_reason="r\ud800",
        finished_at=0.0,
    )
    fixed = storable(bad)
    assert fixed.traceback == "ValueError: a\\ud800b\\x00c\n" + ESCAPED_NOTE
    assert fixed.error_type == "m.E\\x00" and fixed.cancel_reason == "r\\ud800"
    for text in (fixed.traceback, fixed.error_type, fixed.cancel_reason):
        assert text is not None and "\x00" not in text
        text.encode("utf-8")  # no lone surrogate left
