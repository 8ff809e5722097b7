"""The client engine every app uses: per-loop brokers and the async client operations.

Broker connections belong to one event loop, so the client keeps one broker
per loop (weakly: a loop that goes away takes its broker with it). Sync and
async apps both call these coroutines; only how they are driven differs.

Brokers are closed when their loop ends, so nothing is left to print "Task was
destroyed but it is pending!" at interpreter exit: the sync facade's own loops
(one per thread) close their brokers and themselves at exit, within a few seconds
however a broker behaves; another loop closes this client's broker at its
``shutdown_asyncgens`` (the end of ``asyncio.run``). A forked child never touches
the parent's connections: it forgets them unclosed and opens its own on first use.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import select
import selectors
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from typing import Any, TypeVar

from qtasks.brokers.urls import BrokerFactory
from qtasks.core.broker import Broker, blocking_caller
from qtasks.core.definition import TaskDefinition
from qtasks.core.envelope import Envelope, checked_eta, checked_priority, sending_limit
from qtasks.core.errors import BrokerError
from qtasks.core.ids import new_task_id
from qtasks.core.names import check_name
from qtasks.core.records import CancelState, DeadLetterQuery, Retention, StoredTask
from qtasks.core.status import TaskStatusEnum
from qtasks.core.unique import checked_for, checked_key, default_key

K = TypeVar("K")
V = TypeVar("V")


class Client:
    """Async operations on the app's broker, from whichever loop calls them."""

    def __init__(
        self,
        factory: BrokerFactory,
        *,
        max_message_bytes: int | None = None,
        private_loop: Callable[[asyncio.AbstractEventLoop], bool] | None = None,
    ) -> None:
        """:param private_loop: tells whether a loop is one of the sync facade's own (the
        client then closes its broker, and the loop, at interpreter exit)."""
        self._factory = factory
        self.max_message_bytes = max_message_bytes
        self.inline = factory().capabilities.inline
        self._private_loop = private_loop or (lambda loop: False)
        self._brokers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Broker] = (
            weakref.WeakKeyDictionary()
        )
        self._connecting: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Task[Broker]
        ] = weakref.WeakKeyDictionary()
        #: The sync facade's loops this client opened a broker on, and each one's thread.
        #: Held strongly until closed (at the next thread's first loop, or at exit): a loop
        #: dropped with its thread's locals would be collected unclosed, with a warning.
        self.private: dict[asyncio.AbstractEventLoop, threading.Thread] = {}
        #: Other loops: an async generator each, whose ``finally`` closes the loop's broker
        #: when the loop shuts down (``asyncio.run`` closes every async generator at its end).
        self._watchers: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, AsyncIterator[None]
        ] = weakref.WeakKeyDictionary()
        _CLIENTS.add(self)

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
            if self._private_loop(loop):
                self.private[loop] = threading.current_thread()
            elif loop not in self._watchers:
                watcher = self._watch(loop)
                await anext(watcher)  # now the loop knows it, and closes it at shutdown
                self._watchers[loop] = watcher
            broker = self._factory()
            await broker.connect()
            self._brokers[loop] = broker
            return broker
        finally:
            self._connecting.pop(loop, None)

    async def _watch(self, loop: asyncio.AbstractEventLoop) -> AsyncIterator[None]:
        """Suspended until the loop's ``shutdown_asyncgens``, then closes its broker."""
        try:
            yield
        finally:
            broker = self._brokers.pop(loop, None)
            if broker is not None:
                await _within(broker.close(), CLOSE_SECONDS)

    def _held(self) -> list[Any]:
        """Everything this client keeps per loop, loops included (held over a fork)."""
        held: list[Any] = []
        for table in (self._brokers, self._connecting, self.private, self._watchers):
            held.extend(_snapshot(table))
        return held

    def _forget_all(self) -> None:
        """Drop every broker unclosed (a forked child's: they are the parent's)."""
        self._brokers = weakref.WeakKeyDictionary()
        self._connecting = weakref.WeakKeyDictionary()
        self.private = {}
        self._watchers = weakref.WeakKeyDictionary()

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
        unique_key: str | None = None,
        unique_for: float | None = None,
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
        if unique_key is not None or unique_for is not None or (
            definition is not None and definition.unique
        ):
            key = (
                default_key(task_name, args, kwargs)
                if unique_key is None
                else checked_key(unique_key)
            )
            if unique_for is not None:
                hold = checked_for(unique_for)
            else:
                hold = definition.unique_for if definition is not None else 0.0
            unique = {"unique_key": key, "unique_until": now + hold}
        else:
            unique = {}
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
            **unique,  # type: ignore[arg-type]
        )

    async def enqueue(self, envelopes: Sequence[Envelope]) -> dict[str, str]:
        """Send ``envelopes``; returns those a held unique key kept out, id -> holder's id."""
        broker = await self.broker()
        with sending_limit(self.max_message_bytes):  # applied where the broker encodes
            if blocking_caller.get():  # a sync caller: a blocking client saves the loop's toll
                blocking = getattr(broker, "enqueue_blocking", None)
                if blocking is not None:
                    held = blocking(envelopes)
                    if held is not None:
                        return held  # type: ignore[no-any-return]
            return await broker.enqueue(envelopes)

    async def unique_hold(self, queue: str, key: str) -> tuple[str, float] | None:
        return await (await self.broker()).unique_hold(queue, key)

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


# at exit and after fork ------------------------------------------------------------------

#: The longest an exit (or a loop's shutdown) waits for one loop's brokers to close.
CLOSE_SECONDS = 2.0
#: The longest interpreter exit spends closing every broker and loop of the sync facade.
EXIT_SECONDS = 3.0

_CLIENTS: weakref.WeakSet[Client] = weakref.WeakSet()
#: What the clients held when this process forked (kept alive across the fork: see
#: ``_after_fork_in_child``); emptied again in the parent.
_HELD: list[Any] = []
#: A forked child's share of its parent's loops and brokers: kept, never closed or used.
_INHERITED: list[Any] = []


def _snapshot(table: MutableMapping[K, V]) -> list[tuple[K, V]]:
    """The table's items, though another thread may be adding one meanwhile."""
    for _ in range(10):
        try:
            return list(table.items())
        except RuntimeError:  # changed size during iteration: look again
            continue
    return []


async def _within(closing: Awaitable[Any], seconds: float) -> None:
    """Run ``closing`` for up to ``seconds``; a failure or a hang is dropped, quietly."""
    task = asyncio.ensure_future(closing)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if done:
        if not task.cancelled():
            task.exception()  # retrieved: nothing to report, the process is leaving
        return
    task.cancel()
    await asyncio.wait({task}, timeout=0.1)  # let it unwind, without waiting for it


async def _close_loop(brokers: list[Broker], seconds: float) -> None:
    """Close ``brokers`` and then whatever the loop still runs (their libraries' tasks)."""
    start = time.monotonic()
    if brokers:
        closing = asyncio.gather(*(b.close() for b in brokers), return_exceptions=True)
        await _within(closing, seconds)
    current = asyncio.current_task()
    rest = [t for t in asyncio.all_tasks() if t is not current]
    for task in rest:
        task.cancel()
    if rest:
        left = max(0.1, seconds - (time.monotonic() - start))
        await asyncio.wait(rest, timeout=left)


def _quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The exception handler of a loop being closed at exit: it reports nothing."""


def _claim_idle_loops(me: threading.Thread | None) -> dict[asyncio.AbstractEventLoop, list[Broker]]:
    """Take, from every client, the sync facade's loops whose thread has ended (or is
    ``me``), each with its brokers: the caller closes them. A loop still running (a
    daemon thread in a call) is left alone; two threads never take the same loop."""
    loops: dict[asyncio.AbstractEventLoop, list[Broker]] = {}
    for client in list(_CLIENTS):
        for loop, thread in _snapshot(client.private):
            if loop.is_closed() or loop.is_running() or (thread.is_alive() and thread is not me):
                continue
            if client.private.pop(loop, None) is None:
                continue  # another thread took it meanwhile
            broker = client._brokers.pop(loop, None)
            loops.setdefault(loop, []).extend([broker] if broker is not None else [])
    return loops


def _close_private_loops() -> None:
    """At interpreter exit: close the brokers the sync facade opened on its own loops,
    then those loops."""
    deadline = time.monotonic() + EXIT_SECONDS
    loops = _claim_idle_loops(threading.current_thread())
    for loop in loops:
        loop.set_exception_handler(_quiet)  # what is left when time runs out stays quiet
    for loop, brokers in loops.items():
        if not _shut_down(loop, brokers, deadline):
            return


def close_finished_threads() -> None:
    """Close the brokers and loops the sync facade opened for threads that have ended.

    A web server that starts a thread per request (Django's ``runserver``) would
    otherwise keep one connection per finished thread until the process exits. Called
    by the runner each time a thread makes its first loop: never from a running loop.
    """
    loops = _claim_idle_loops(None)
    deadline = time.monotonic() + EXIT_SECONDS
    for loop, brokers in loops.items():
        loop.set_exception_handler(_quiet)
        if not _shut_down(loop, brokers, deadline):
            return


def _shut_down(loop: asyncio.AbstractEventLoop, brokers: list[Broker], deadline: float) -> bool:
    """Close ``brokers``, the loop's async generators and executor, then the loop itself,
    each step cut short at ``deadline``; ``False`` if time ran out first."""
    steps: list[Callable[[float], Awaitable[None]]] = [
        lambda left: _close_loop(brokers, min(left, CLOSE_SECONDS)),
        lambda left: _within(loop.shutdown_asyncgens(), min(left, 0.5)),
        lambda left: _within(loop.shutdown_default_executor(), min(left, 0.5)),
    ]
    for step in steps:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        with contextlib.suppress(Exception):
            loop.run_until_complete(step(left))
    with contextlib.suppress(Exception):
        loop.close()
    return True


def _before_fork() -> None:
    _HELD[:] = [item for client in list(_CLIENTS) for item in client._held()]


def _after_fork_in_parent() -> None:
    _HELD.clear()


def _after_fork_in_child() -> None:
    """Forget the parent's brokers without closing them (closing would end the parent's
    sessions, or unregister its sockets from the epoll instance both processes share)."""
    loops = {item[0] for item in _HELD}
    for loop in loops:
        if not loop.is_closed() and not loop.is_running():
            _detach_selector(loop)
    for client in list(_CLIENTS):
        client._forget_all()
    _INHERITED.extend(_HELD)  # collected at the child's exit only, with epolls of its own
    _HELD.clear()


def _detach_selector(loop: asyncio.AbstractEventLoop) -> None:
    """Give the child's copy of an idle inherited loop an epoll instance of its own.

    After ``fork`` parent and child share each epoll instance: a child that closed its
    copy of the loop (at its own exit, say) would unregister the parent's sockets and
    wake-up pipe, and the parent's loop would wait for events it no longer hears of.
    ``dup2`` puts a fresh, private instance under the same descriptor number. Other
    selectors (poll, select, kqueue) keep no shared kernel state, so need nothing.
    """
    epoll = getattr(selectors, "EpollSelector", None)
    selector = getattr(loop, "_selector", None)  # asyncio's selector loops (not uvloop)
    if epoll is None or not isinstance(selector, epoll):
        return
    with contextlib.suppress(OSError):
        fresh = select.epoll()
        os.dup2(fresh.fileno(), selector.fileno(), inheritable=False)
        fresh.close()


atexit.register(_close_private_loops)
if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork either
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
