"""Unique tasks: the key an enqueue holds, and the one rule every transport applies to it.

A message with ``unique_key`` holds that key in its queue (per app). While the key is held,
an enqueue of another message with the same key stores nothing and answers with the id of
the holder. Each transport applies :func:`key_is_free` atomically with the insert (a
script, or one statement), so producers racing one key make one task.

The key is *held* while either is true:

- the holder still waits or runs (status ``new`` or ``process``), when the new message
  asks for it (``unique_while_running``, the default);
- the hold's end (``held_until``, the holder's ``unique_until``) is after the new
  message's ``unique_after`` (0: the transport's clock now).

Nothing releases a key: it is free as soon as the rule says so, computed when the next
enqueue meets it. So a holder whose worker was killed frees it when lease recovery ends
the task (failed or cancelled), and keeps it when recovery requeues it; a retry's new
attempt takes the key over in the step that enqueues it. Transports delete keys free
for good (their holder final and the hold over) while purging expired records.

Schedules use the same rule with an explicit time: a tick at ``T`` is sent with
``unique_after=T`` and ``unique_until=`` the schedule's next tick, so among any number of
schedulers the first to send tick ``T`` holds the schedule's key until the next tick,
and a late or stale sender of ``T`` (or of an earlier tick) is deduplicated.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import msgspec

#: The longest key a transport stores (longer ones are refused, not cut).
MAX_KEY_CHARS = 1000

_sorted_encoder = msgspec.json.Encoder(order="sorted")


def default_key(task_name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    """The task name and a digest of its arguments' canonical JSON (keys sorted): the same
    call, however its keyword arguments were ordered, gives the same key."""
    try:
        canonical = _sorted_encoder.encode([list(args), kwargs])
    except (TypeError, msgspec.EncodeError, OverflowError) as exc:
        raise TypeError(
            f"the arguments of unique task {task_name!r} have no canonical JSON form to "
            f"derive its unique key from ({exc}); pass unique_key= explicitly"
        ) from exc
    return f"{task_name}:{hashlib.sha256(canonical).hexdigest()[:32]}"


def checked_key(key: object) -> str:
    """``key`` if a transport can store it, else ``TypeError`` / ``ValueError``."""
    if not isinstance(key, str):
        raise TypeError(f"unique_key must be a string, not {type(key).__name__}")
    if not key:
        raise ValueError("unique_key must not be empty")
    if len(key) > MAX_KEY_CHARS:
        raise ValueError(f"unique_key is {len(key)} characters, more than {MAX_KEY_CHARS}")
    if "\x00" in key:
        raise ValueError("unique_key holds a NUL character, which PostgreSQL cannot store")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"unique_key is not valid Unicode text: {exc}") from None
    return key


def checked_for(seconds: object) -> float:
    """``unique_for`` (seconds a key stays held after enqueue) if usable, else an error."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"unique_for must be a number of seconds, not {seconds!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"unique_for must be a finite number of seconds >= 0, not {seconds}")
    return float(seconds)


def key_is_free(
    *, holder_active: bool, held_until: float, while_running: bool, after: float, now: float
) -> bool:
    """The rule of the module docstring, for transports that apply it in Python (memory);
    the others state it in their script or statement, with these names."""
    if while_running and holder_active:
        return False
    return held_until <= (after or now)
