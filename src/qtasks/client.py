"""The client engine every app uses: per-loop brokers and the async client operations.

Broker connections belong to one event loop, so the client keeps one broker
per loop (weakly: a loop that goes away takes its broker with it). Sync and
async apps both call these coroutines; only how they are driven differs.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Sequence
from typing import Any

from qtasks.brokers.urls import BrokerFactory
from qtasks.core.broker import Broker, blocking_caller
from qtasks.core.definition import TaskDefinition
from qtasks.core.envelope import Envelope, checked_eta, checked_priority, sending_limit
from qtasks.core.errors import BrokerError
from qtasks.core.ids import new_task_id
from qtasks.core.names import check_name
from qtasks.core.records import CancelState, DeadLetterQuery, Retention, StoredTask
from qtasks.core.status import TaskStatusEnum


class Client:
    """Async operations on the app's broker, from whichever loop calls them."""

    def __init__(self, factory: BrokerFactory, *, max_message_bytes: int | None = None) -> None:
        self._factory = factory
        self.max_message_bytes = max_message_bytes
        self.inline = factory().capabilities.inline
        self._brokers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Broker] = (
            weakref.WeakKeyDictionary()
        )
        self._connecting: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Task[Broker]
        ] = weakref.WeakKeyDictionary()

    def new_broker(self) -> Broker:
        """A broker of its own (a worker's)."""
        return self._factory()

    async def broker(self) -> Broker:
        loop = asyncio.get_running_loop()
        broker = self._brokers.get(loop)
        if broker is None:
            # One connect per loop, however many calls arrive before it is done (50 add_task
            # under gather must not open 50 brokers and leave 49 unclosed).
            connecting = self._connecting.get(loop)
            if connecting is None:
                connecting = self._connecting[loop] = loop.create_task(self._connect(loop))
            broker = await asyncio.shield(connecting)
        return broker

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> Broker:
        try:
            broker = self._factory()
            await broker.connect()
            self._brokers[loop] = broker
            return broker
        finally:
            self._connecting.pop(loop, None)

    @staticmethod
    def envelope(
        definition: TaskDefinition | None,
        task_name: str,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        *,
        queue: str,
        priority: int | None,
        eta: float | None = None,
        headers: dict[str, str] | None = None,
        now: float | None = None,
    ) -> Envelope:
        if now is None:
            now = time.time()
        if priority is None:
            priority = definition.priority if definition is not None else 0
        priority = checked_priority(priority)
        if eta is not None:
            eta = checked_eta(eta)
        if definition is None:  # a registered task's names were checked when it was declared
            check_name("task", task_name)
            check_name("queue", queue)
        return Envelope(
            id=new_task_id(),
            task_name=task_name,
            queue=definition.queue if definition is not None else queue,
            args=tuple(args),
            kwargs=kwargs,
            priority=priority,
            eta=eta if eta is not None else now,
            created_at=now,
            retries_left=definition.retry if definition is not None else 0,
            headers=headers or {},
        )

    async def enqueue(self, envelopes: Sequence[Envelope]) -> None:
        broker = await self.broker()
        with sending_limit(self.max_message_bytes):  # applied where the broker encodes
            if blocking_caller.get():  # a sync caller: a blocking client saves the loop's toll
                blocking = getattr(broker, "enqueue_blocking", None)
                if blocking is not None and blocking(envelopes):
                    return
            await broker.enqueue(envelopes)

    async def get(self, task_id: str) -> StoredTask | None:
        return await (await self.broker()).get(task_id)

    async def wait(self, task_id: str, timeout: float) -> StoredTask | None:
        """Wait for the final record, following retries to the last attempt."""
        broker = await self.broker()
        deadline = time.monotonic() + timeout
        while True:
            stored = await broker.wait(task_id, max(0.0, deadline - time.monotonic()))
            if stored is None or not stored.status.is_final:
                return None
            if stored.status is TaskStatusEnum.RETRY and stored.retry_child:
                if time.monotonic() >= deadline:
                    return None
                task_id = stored.retry_child
                continue
            return stored

    async def close(self) -> None:
        """Close the calling loop's broker connection (a later call opens a new one)."""
        broker = self._brokers.pop(asyncio.get_running_loop(), None)
        if broker is not None:
            await broker.close()

    async def ping(self) -> bool:
        try:
            broker = await self.broker()
        except (BrokerError, OSError):
            return False
        return await broker.ping()

    async def flush_all(self) -> None:
        await (await self.broker()).flush_all()

    async def count(self, queues: Sequence[str] | None = None) -> dict[str, int]:
        return await (await self.broker()).count(queues)

    async def cancel(self, task_id: str, reason: str, retention: Retention) -> CancelState:
        return await (await self.broker()).cancel(task_id, reason, retention=retention)

    async def dead_letters(self, query: DeadLetterQuery) -> list[StoredTask]:
        return await (await self.broker()).dead_letters(query)

    async def requeue_dead(self, query: DeadLetterQuery) -> int:
        return await (await self.broker()).requeue_dead(query)

    async def purge_dead(self, query: DeadLetterQuery) -> int:
        return await (await self.broker()).purge_dead(query)
