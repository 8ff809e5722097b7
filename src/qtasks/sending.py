"""The sending side of an app (a part of :class:`~qtasks.app.AppCore`): messages built
from calls, sent through the enqueue hooks, and the records callers get back, those of
tasks a held unique key deduplicated included."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import msgspec

from qtasks.client import Client
from qtasks.config import QueueConfig
from qtasks.core.definition import TaskDefinition
from qtasks.core.envelope import Envelope, checked_eta, checked_priority
from qtasks.core.hooks import EnqueueCall, HookChain
from qtasks.core.ids import task_uuid
from qtasks.core.records import StoredTask
from qtasks.core.result import Task, record_from_envelope
from qtasks.tasks import TaskCall

#: What ``add_tasks`` accepts: a prepared call, or (task name, args[, kwargs]).
CallSpec = TaskCall[Any] | tuple[str, Sequence[Any]] | tuple[str, Sequence[Any], dict[str, Any]]


class Sending:
    """``add_task`` / ``add_tasks`` of every app, as coroutines (the facades drive them)."""

    if TYPE_CHECKING:  # the app's own, used here
        config: QueueConfig
        hooks: HookChain
        log: logging.Logger
        _client: Client

        def definition(self, task_name: str) -> TaskDefinition | None: ...
        def _record(self, stored: StoredTask | None) -> Task | None: ...
        async def _await_record(self, task_id: UUID | str, timeout: float) -> Task | None: ...
        def _wait_record(self, task_id: UUID | str, timeout: float) -> Task | None: ...

    def _envelope(
        self,
        task_name: str,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        *,
        priority: int | None,
        eta: float | None = None,
        now: float | None = None,
        unique_key: str | None = None,
        unique_for: float | None = None,
    ) -> Envelope:
        """The message for a call by name, with the registered task's defaults if any."""
        return self._client.envelope(
            self.definition(task_name),
            task_name,
            args,
            kwargs,
            queue=self.config.default_queue,
            priority=priority,
            eta=eta,
            now=now,
            unique_key=unique_key,
            unique_for=unique_for,
        )

    async def _add_task(
        self,
        task_name: str,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        *,
        priority: int | None,
        timeout: float | None,
        eta: float | None = None,
        unique_key: str | None = None,
        unique_for: float | None = None,
    ) -> Task | None:
        envelope = self._envelope(
            task_name,
            args,
            kwargs,
            priority=priority,
            eta=eta,
            unique_key=unique_key,
            unique_for=unique_for,
        )
        (envelope,), held = await self._enqueue([envelope])
        if held:
            self.log.debug("deduplicated %s: %s holds its key", envelope.task_name, held)
            task_id = held[envelope.id]
            if timeout is not None:
                return self._mark_deduplicated(await self._await_record(task_id, timeout))
            return (await self._held_records(held, [envelope]))[0]
        self.log.debug("enqueued %s %s", envelope.task_name, envelope.id)
        if timeout is not None:
            return await self._await_record(envelope.id, timeout)
        return record_from_envelope(envelope, self)

    async def _add_tasks(
        self, calls: Iterable[CallSpec], *, priority: int | None = None
    ) -> list[Task]:
        now = time.time()  # one stamp for the batch: ids keep the order within it
        envelopes = []
        for call in calls:
            name, args, kwargs, own_priority = _unpack_call(call)
            chosen = priority if priority is not None else own_priority  # the batch's wins
            envelopes.append(self._envelope(name, args, kwargs, priority=chosen, now=now))
        envelopes, held = await self._enqueue(envelopes)
        created = datetime.fromtimestamp(now, UTC)
        if held:
            return await self._held_records(held, envelopes, created)
        return [record_from_envelope(e, self, created) for e in envelopes]

    async def _held_records(
        self, held: dict[str, str], envelopes: list[Envelope], created: datetime | None = None
    ) -> list[Task]:
        """The records of a send some of whose messages a held unique key kept out: those
        are their holders' records, marked ``deduplicated``."""
        holders: dict[str, Task | None] = {}
        for task_id in set(held.values()):
            holders[task_id] = self._record(await self._client.get(task_id))
        records = []
        for envelope in envelopes:
            holder_id = held.get(envelope.id)
            if holder_id is None:
                records.append(record_from_envelope(envelope, self, created))
                continue
            record = holders[holder_id]
            if record is None:  # the holder's record expired meanwhile: what is known of it
                record = record_from_envelope(envelope, self, created)
                record.uuid = task_uuid(holder_id)
            records.append(self._mark_deduplicated(record))  # type: ignore[arg-type]
        return records

    @staticmethod
    def _mark_deduplicated(record: Task | None) -> Task | None:
        if record is not None:
            record.deduplicated = True
        return record

    async def _enqueue(self, envelopes: list[Envelope]) -> tuple[list[Envelope], dict[str, str]]:
        """Hand messages to the broker through the enqueue hooks; returns what was sent and
        which of them a held unique key kept out (id -> the holder's id: no
        ``after_enqueue`` for those, nothing was enqueued)."""
        if not self.hooks.watches_enqueue:
            return envelopes, await self._client.enqueue(envelopes)
        envelopes, calls = await self._before_enqueue(envelopes)
        held = await self._client.enqueue(envelopes)
        if held:
            kept = [i for i, e in enumerate(envelopes) if e.id not in held]
            await self._after_enqueue([calls[i] for i in kept], [envelopes[i] for i in kept])
        else:
            await self._after_enqueue(calls, envelopes)
        return envelopes, held

    async def _before_enqueue(
        self, envelopes: list[Envelope]
    ) -> tuple[list[Envelope], list[EnqueueCall]]:
        """Each message as the ``before_enqueue`` hooks leave it (and the calls they saw)."""
        sent, calls = [], []
        for envelope in envelopes:
            call = EnqueueCall(
                app=self,
                task_name=envelope.task_name,
                args=envelope.args,
                kwargs=envelope.kwargs,
                priority=envelope.priority,
                eta=envelope.eta,
                headers=dict(envelope.headers),
            )
            await self.hooks.before_enqueue(call)
            calls.append(call)
            sent.append(self._applied(envelope, call))
        return sent, calls

    def _applied(self, envelope: Envelope, call: EnqueueCall) -> Envelope:
        """``envelope`` with what a hook changed in its call (another task name takes that
        task's queue and retries)."""
        if call.task_name != envelope.task_name:
            renamed = self._envelope(
                call.task_name, call.args, call.kwargs, priority=call.priority, eta=call.eta
            )
            return msgspec.structs.replace(renamed, id=envelope.id, headers=call.headers)
        return msgspec.structs.replace(
            envelope,
            args=tuple(call.args),
            kwargs=call.kwargs,
            priority=envelope.priority
            if call.priority is None
            else checked_priority(call.priority),
            eta=envelope.eta if call.eta is None else checked_eta(call.eta),
            headers=call.headers,
        )

    async def _after_enqueue(self, calls: list[EnqueueCall], envelopes: list[Envelope]) -> None:
        for call, envelope in zip(calls, envelopes, strict=True):
            await self.hooks.after_enqueue(call, envelope)


def _unpack_call(call: CallSpec) -> tuple[str, Sequence[Any], dict[str, Any], int | None]:
    """Name, args, kwargs and the priority a prepared call was built with (if any)."""
    if isinstance(call, TaskCall):
        return call.task_name, call.args, call.kwargs, call.priority
    if len(call) == 3:
        return call[0], call[1], call[2], None
    return call[0], call[1], {}, None
