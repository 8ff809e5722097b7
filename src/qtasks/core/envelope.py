"""The message envelope: what travels from a client to a worker.

It is encoded once at enqueue (JSON, via msgspec) and decoded once in the
worker. The broker stores the encoded body and copies the few fields it
orders by (queue, priority, eta) into its own index; it never decodes it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from qtasks.core.errors import MessageDecodeError


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


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Envelope)
_any_decoder = msgspec.json.Decoder()


def encode_envelope(envelope: Envelope) -> bytes:
    """Encode for the wire; a value JSON cannot carry raises ``TypeError`` here, in the caller."""
    try:
        return _encoder.encode(envelope)
    except (TypeError, msgspec.EncodeError, OverflowError) as exc:
        raise TypeError(
            f"arguments of task {envelope.task_name!r} are not JSON-serializable: {exc}"
        ) from exc


def decode_envelope(body: bytes) -> Envelope:
    """Decode a body read from a broker; anything malformed raises :class:`MessageDecodeError`."""
    try:
        return _decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise MessageDecodeError(f"undecodable message body: {exc}") from exc


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
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    name = raw.get("task_name") if isinstance(raw, dict) else None
    return name if isinstance(name, str) else None
