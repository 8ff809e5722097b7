"""The Redis broker's unique keys (``S u:<key>`` in ``redis.lua``; the rule is
``core/unique.py``'s): taken in the enqueue script, handed to a retry's new attempt in the
complete script, let go by the scripts that make their holder final, read by schedules
(:class:`RedisUnique`, a part of :class:`~qtasks.brokers.redis.RedisBroker`).

Only a call that carries a unique message pays for them: its queue's enqueue script call
gets four more fields per task (``with_unique_fields``); every other call is as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from qtasks.core.envelope import Envelope

if TYPE_CHECKING:
    from qtasks.brokers.redis import Client

#: What a task without a key sends in place of the four unique fields, in a call with keys.
_NO_KEY = ("", "", "", "")


def unique_name(stem: str, key: str) -> str:
    """``S u:<key>``: the key as given follows the stem's closing brace (no escaping: the
    hash tag is the stem's, whatever the key holds)."""
    return f"{stem}u:{key}"


def with_unique_fields(
    calls: Sequence[tuple[str, list[Any]]], envelopes: Sequence[Envelope]
) -> None:
    """Rewrite, in place, the enqueue script calls (``RedisBroker._enqueue_calls``) of the
    queues that have a unique message: flag ``u``, and after each task's 8 fields its key,
    held until, after and while running (redis.lua, enqueue)."""
    for _, args in calls:
        queue = args[1]
        mine = [env for env in envelopes if env.queue == queue]
        if all(env.unique_key is None for env in mine):
            continue
        fields = args[3:]
        del args[3:]
        args[2] = "u" + args[2]
        for n, env in enumerate(mine):
            args += fields[8 * n : 8 * n + 8]
            if env.unique_key is None:
                args += _NO_KEY
            else:
                args += [
                    env.unique_key,
                    repr(env.unique_until),
                    repr(env.unique_after),
                    "1" if env.unique_while_running else "0",
                ]


def held_of(reply: Any) -> dict[str, str]:
    """The enqueue script's reply (id, holder per task it did not store) as a dict."""
    return {_text(reply[i]): _text(reply[i + 1]) for i in range(0, len(reply), 2)}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisUnique:
    """What the scripts leave to the broker: schedules' reads, a cluster's pointers."""

    if TYPE_CHECKING:  # the broker's own, used here

        def _stem(self, queue: str) -> str: ...
        def _pointer(self, task_id: str) -> str: ...
        async def _open(self) -> Client: ...
        def _errors(self) -> AbstractContextManager[None]: ...

    async def _unpoint(self, held: dict[str, str]) -> None:
        """Cluster: delete the pointers ``_point`` wrote for messages a held key kept out
        (they point at no task, and never will)."""
        client = await self._open()
        with self._errors():
            await client.unlink(*(self._pointer(task_id) for task_id in held))

    async def unique_hold(self, queue: str, key: str) -> tuple[str, float] | None:
        client = await self._open()
        with self._errors():
            value = await client.get(unique_name(self._stem(queue), key))
        if value is None:
            return None
        holder, _, until = _text(value).partition("|")  # (ids hold no '|')
        return holder, float(until)


__all__ = ["RedisUnique", "held_of", "unique_name", "with_unique_fields"]
