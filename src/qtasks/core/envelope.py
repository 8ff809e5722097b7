"""The message envelope: what travels from a client to a worker.

It is encoded once at enqueue (JSON, via msgspec) and decoded once in the
worker. The broker stores the encoded body and copies the few fields it
orders by (queue, priority, eta) into its own index; it never decodes it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import msgspec

from qtasks.core.errors import MessageDecodeError, MessageTooDeepError


class Envelope(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One enqueued call of a task."""

    id: str
    """The task's uuid, as a string: the record and the result use it too."""
    task_name: str
    """The registered name; any characters, ``:`` and non-ASCII included."""
    queue: str
    """The queue a worker must listen on to run it."""
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    priority: int = 0
    """Larger runs first."""
    eta: float = 0.0
    """Unix time before which the task must not start; 0 for at once."""
    created_at: float = 0.0
    retries_left: int = 0
    """How many more times a failure is re-enqueued (counts down per retry)."""
    retry_of: str | None = None
    """The uuid of the task this one retries, if any."""
    headers: dict[str, str] = {}
    """Free-form metadata: trace ids, Django's backend alias, …"""
    unique_key: str | None = None
    """While this key is held in the queue, an enqueue with it stores nothing and answers
    with the holder (:mod:`qtasks.core.unique` states the rule)."""
    unique_until: float = 0.0
    """Unix time until which this message holds its key even once finished."""
    unique_after: float = 0.0
    """Unix time the key's hold must have ended by for this message to take it (0: the
    transport's clock at enqueue); schedules send their tick time."""
    unique_while_running: bool = True
    """The key is held while its holder waits or runs, whatever ``unique_until`` says."""


def _encode_other(value: Any) -> Any:
    """What msgspec cannot encode itself: a pydantic model (duck-typed, so the core does
    not import pydantic) becomes its JSON-mode dict; anything else is refused."""
    dump = getattr(value, "model_dump", None)
    if callable(dump) and hasattr(type(value), "model_fields"):
        return dump(mode="json")
    raise TypeError(f"Encoding objects of type {type(value).__name__} is unsupported")


_encoder = msgspec.json.Encoder(enc_hook=_encode_other)
_decoder = msgspec.json.Decoder(Envelope)
_any_decoder = msgspec.json.Decoder()


#: The range every transport stores a priority in (a signed 64-bit integer).
PRIORITY_RANGE = (-(2**63), 2**63 - 1)


def checked_priority(priority: object) -> int:
    """``priority`` if it is an integer every transport can store, else ``TypeError`` /
    ``ValueError`` (never silently truncated or wrapped)."""
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"priority must be an integer, not {priority!r}")
    low, high = PRIORITY_RANGE
    if not low <= priority <= high:
        raise ValueError(f"priority must be within a signed 64-bit range, not {priority}")
    return priority


def checked_eta(eta: float) -> float:
    """``eta`` (unix time) if it is a finite number, else ``ValueError``."""
    if not isinstance(eta, (int, float)) or isinstance(eta, bool):
        raise TypeError(f"eta must be a datetime or a unix time, not {eta!r}")
    if not math.isfinite(eta):
        raise ValueError(f"eta must be a finite time, not {eta}")
    return float(eta)


#: The largest body a caller may send, set by the client around its enqueues (the app's
#: ``max_message_bytes``); ``None``: no limit.
message_limit: ContextVar[int | None] = ContextVar("qtasks_message_limit", default=None)


@contextmanager
def sending_limit(limit: int | None) -> Iterator[None]:
    """Within the block, :func:`encode_envelope` refuses bodies larger than ``limit``."""
    token = message_limit.set(limit)
    try:
        yield
    finally:
        message_limit.reset(token)


def encode_envelope(envelope: Envelope) -> bytes:
    """Encode for the wire, in the caller: a type JSON cannot carry raises ``TypeError``;
    a value no transport can carry (a lone surrogate, nesting deeper than the decoder
    goes) raises ``ValueError``."""
    try:
        body = _encoder.encode(envelope)
    except (TypeError, msgspec.EncodeError, OverflowError) as exc:
        raise TypeError(
            f"arguments of task {envelope.task_name!r} are not JSON-serializable: {exc}"
        ) from exc
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"arguments of task {envelope.task_name!r} hold text UTF-8 cannot carry "
            f"(a lone surrogate): {exc}"
        ) from None
    except RecursionError:
        raise ValueError(
            f"arguments of task {envelope.task_name!r} are nested too deeply to be sent"
        ) from None
    limit = message_limit.get()
    if limit is not None and len(body) > limit:
        raise ValueError(
            f"the message of task {envelope.task_name!r} is {len(body):,} bytes, more than "
            f"max_message_bytes={limit:,} (QTASKS_MAX_MESSAGE_BYTES; none for no limit): "
            "pass a reference (a path, a key) rather than the data"
        )
    return body


def decode_envelope(body: bytes) -> Envelope:
    """Decode a body read from a broker; anything malformed raises :class:`MessageDecodeError`."""
    try:
        return _decoder.decode(body)
    except RecursionError:
        raise MessageTooDeepError(
            "undecodable message body: nested deeper than the decoder goes "
            "(maximum recursion depth exceeded)"
        ) from None
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise MessageDecodeError(f"undecodable message body: {exc}") from None


def encode_value(value: Any) -> bytes:
    """Encode a task's return value; ``TypeError`` if JSON cannot carry it."""
    try:
        return _encoder.encode(value)
    except (TypeError, msgspec.EncodeError, OverflowError) as exc:
        raise TypeError(f"return value is not JSON-serializable: {exc}") from exc


def decode_value(body: bytes | None) -> Any:
    """Decode a stored return value (``None`` stays ``None``)."""
    if body is None:
        return None
    return _any_decoder.decode(body)


def peek_task_name(body: bytes) -> str | None:
    """Best-effort task name of a body that failed to decode, for error records."""
    try:
        raw = _any_decoder.decode(body)
    except (msgspec.DecodeError, ValueError, RecursionError):
        return None
    name = raw.get("task_name") if isinstance(raw, dict) else None
    return name if isinstance(name, str) else None
