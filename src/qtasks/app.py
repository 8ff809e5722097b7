"""The app: task registry, configuration, and the client API, once, as coroutines.

``AppCore`` holds everything and implements each client operation once, as a
coroutine. ``qtasks.facade.QueueTasks`` drives those coroutines from sync code
through :class:`~qtasks.runner.LoopRunner`; ``qtasks.asyncio.QueueTasks``
exposes them as they are.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar
from uuid import UUID

from qtasks import shared
from qtasks.assembly import BrokerComponent, WorkerComponent, resolve_parts
from qtasks.brokers.urls import (
    BrokerFactory,
    absolute_url,
    broker_factory,
    display_url,
    resolve_url,
)
from qtasks.client import Client, close_finished_threads
from qtasks.config import QueueConfig
from qtasks.context import make_echo
from qtasks.core.broker import check_namespace
from qtasks.core.definition import TaskDefinition
from qtasks.core.envelope import Envelope
from qtasks.core.errors import ConfigurationError
from qtasks.core.hooks import Hook, HookChain
from qtasks.core.records import CancelState, DeadLetterQuery, StoredTask
from qtasks.core.result import Task, record_from_stored
from qtasks.declare import bare_or_named, definition_from_options
from qtasks.events.hook import install_events
from qtasks.plugins.depends import DependsHook
from qtasks.runner import LoopRunner
from qtasks.schedule.declare import Scheduling
from qtasks.schedule.spec import Schedule
from qtasks.sending import Sending
from qtasks.tasks import TaskHandle
from qtasks.worker import Worker, WorkerOptions, engine_hooks

if TYPE_CHECKING:
    from qtasks.schedule.scheduler import Scheduler

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
H = TypeVar("H", bound=TaskHandle[Any, Any])

class AppCore(Sending, Scheduling, Generic[H]):
    """Registry, config and the one async implementation of every client operation."""

    _handle_class: type[H]

    def __init__(
        self,
        name: str = "QueueTasks",
        broker_url: str | None = None,
        broker: BrokerFactory | BrokerComponent | None = None,
        worker: WorkerComponent | None = None,
        log: logging.Logger | None = None,
        config: QueueConfig | None = None,
        events: Any = None,
        global_config: Any = None,
    ) -> None:
        """QTasks' parameters, in QTasks' order.

        :param name: the app's namespace (and its name in logs and the CLI): apps with
            different names on one broker never see each other's tasks.
        :param broker_url: transport URL; default ``QTASKS_BROKER_URL``, else
            ``sqlite:///qtasks.sqlite3``. Checked in full here (``ConfigurationError``).
        :param broker: a broker from :mod:`qtasks.brokers` (``AsyncRedisBroker(url=...)``:
            its URL is used, for this app's name), or a callable returning a broker instance.
        :param worker: an ``AsyncWorker`` / ``SyncThreadWorker`` from :mod:`qtasks.workers`:
            its broker, config and log are the app's when the app is given none.
        :param log: logger for client-side messages.
        :param config: settings; default ``QueueConfig()`` (read from ``QTASKS_*``).
        :param events: a ``qtasks.events.SyncEvents`` / ``AsyncEvents`` to use as
            ``app.events``; default: a new one (see ``docs/extending/events.md``).
        :param global_config: a QTasks GlobalConfig (``AsyncRedisGlobalConfig(url=...)``):
            it names the app's server (the broker's, when a broker is given too).
        """
        self.name = check_namespace(name)
        parts = resolve_parts(
            self.name,
            broker_url=broker_url,
            broker=broker,
            worker=worker,
            log=log,
            config=config,
            events=events,
            global_config=global_config,
        )
        broker_url, broker, log, config = parts.broker_url, parts.broker, parts.log, parts.config
        self.config = config if config is not None else QueueConfig()
        #: The transport URL in force (an SQLite file's path made absolute, once, here:
        #: every display names the one file meant, wherever the process started).
        self.broker_url = (
            absolute_url(resolve_url(broker_url)) if broker is None else "<custom broker>"
        )
        if log is None:
            log = logging.getLogger("qtasks.client")
            log.setLevel(self.config.logs_default_level_client)
        self.log = log
        self._runner = LoopRunner(on_new_loop=close_finished_threads)
        self._client = Client(
            broker if broker is not None else broker_factory(self.broker_url, self.name),
            max_message_bytes=self.config.max_message_bytes,
            private_loop=self._is_private_loop,
        )
        self.tasks: dict[str, TaskHandle[Any, Any]] = {}
        self.schedules = {}
        self._workers: weakref.WeakSet[Worker] = weakref.WeakSet()
        self._resolvers: list[Callable[[Envelope], TaskDefinition | None]] = []
        #: The hooks around enqueue and execution (retries and time limits are two of them).
        self.hooks = HookChain(engine_hooks())
        #: ``@app.events.on.<event>``: given (``events=``) or the app's own; fired by a hook.
        self.events = install_events(self, parts.events)
        #: The starter ``run_forever`` last ran (QTasks' ``app.starter``).
        self.starter: Any = None
        self.hooks.add(DependsHook())
        shared.register_existing(self)

    # registry --------------------------------------------------------------------------

    def _task(self, name: Any, options: dict[str, Any]) -> Any:
        """``@app.task`` bare (``name`` is the function) or with a name and options."""

        def declare(func: Callable[..., Any], task_name: str | None) -> H:
            definition = definition_from_options(func, task_name, options, self.config)
            handle = self._handle_class(definition, self)
            self.register(handle)
            return handle

        return bare_or_named(name, declare)

    def register(self, handle: TaskHandle[Any, Any]) -> None:
        """Add a task; the same task twice is a no-op, two tasks with one name a ``ValueError``."""
        definition = handle.definition_for(self)
        existing = self.tasks.get(definition.name)
        if existing is not None:
            if existing is handle or existing.definition == definition:
                return
            raise ValueError(f"a different task named {definition.name!r} is already registered")
        if definition.schedule is not None:  # first, so a bad schedule registers nothing
            self._schedule_declared(definition.name, definition.schedule)
        self.tasks[definition.name] = handle
        handle._bind(self)

    def add_hook(self, hook: Hook) -> Hook:
        """Add a hook to the chain around this app's enqueues and executions (see
        :mod:`qtasks.hooks`); workers made after this call run it."""
        return self.hooks.add(hook)

    def add_plugin(
        self, plugin: Any, trigger_names: list[str] | None = None, component: str | None = None
    ) -> None:
        """Add a QTasks plugin for ``trigger_names`` (``None``: all) of ``component``
        (``None``, ``"worker"``, ``"broker"``, ``"storage"``, ``"global_config"``); see
        :mod:`qtasks.plugins.adapter`."""
        from qtasks.plugins.adapter import add_plugin

        add_plugin(self, plugin, trigger_names, component)

    def add_middleware(
        self, middleware: type[Any], position: str = "before", **kwargs: Any
    ) -> None:
        """Run the QTasks ``TaskMiddleware`` class ``middleware`` before (or, with
        ``position="after"``) every task's call, built with ``kwargs``."""
        from qtasks.middlewares.app_level import add_middleware

        add_middleware(self, middleware, position, **kwargs)

    def include_router(self, router: Any) -> None:
        """Register every task of a ``SyncRouter``/``AsyncRouter`` on this app."""
        for handle in router.tasks.values():
            self.register(handle)

    def definition(self, task_name: str) -> TaskDefinition | None:
        handle = self.tasks.get(task_name)
        return handle.definition if handle is not None else None

    def add_resolver(self, resolver: Callable[[Envelope], TaskDefinition | None]) -> None:
        """Let this app's workers run messages no registered task claims (Django tasks):
        ``resolver(envelope)`` returns a definition, or ``None`` to pass."""
        self._resolvers.append(resolver)

    def resolve(self, envelope: Envelope) -> TaskDefinition | None:
        """The definition a worker runs for ``envelope``: a registered task, else a resolver's."""
        definition = self.definition(envelope.task_name)
        if definition is not None:
            return definition
        for resolver in self._resolvers:
            definition = resolver(envelope)
            if definition is not None:
                return definition
        return None

    # client operations (async, the one implementation) ---------------------------------

    def _record(self, stored: StoredTask | None) -> Task | None:
        return None if stored is None else record_from_stored(stored, self)

    async def _get(self, task_id: UUID | str) -> Task | None:
        record = self._record(await self._client.get(str(task_id)))
        return await self.hooks.on_get(self, record)  # type: ignore[no-any-return]

    async def _await_record(self, task_id: UUID | str, timeout: float) -> Task | None:
        return self._record(await self._client.wait(str(task_id), timeout))

    async def _cancel(self, task_id: UUID | str, reason: str) -> CancelState:
        return await self._client.cancel(str(task_id), reason, self.config.retention)

    async def _dead_letters(
        self, task_name: str | None, queue: str | None, limit: int | None
    ) -> list[Task]:
        query = DeadLetterQuery(
            task_name=task_name, queues=None if queue is None else (queue,), limit=limit
        )
        return [record_from_stored(s, self) for s in await self._client.dead_letters(query)]

    def _is_private_loop(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether ``loop`` is the sync facade's loop of the calling thread (the runner's:
        the client closes its broker and the loop at exit)."""
        return loop is getattr(self._runner._local, "loop", None)

    def _sync(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run one of the client coroutines from sync code (the whole sync facade)."""
        return self._runner.run(coro, inline=self._client.inline)

    def _wait_record(self, task_id: UUID | str, timeout: float) -> Task | None:
        return self._sync(self._await_record(task_id, timeout))

    # worker ----------------------------------------------------------------------------

    def make_worker(
        self,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        prefetch: int | None = None,
        burst: bool = False,
        schedule: bool = False,
    ) -> Worker:
        """A worker for this app's tasks, with its own broker connection; with ``schedule``,
        it also fires the app's schedules (once per tick across all schedulers)."""
        config = self.config
        concurrency = concurrency or config.max_tasks_process
        if prefetch is None:
            prefetch = max(100, concurrency) if config.prefetch is None else config.prefetch
        if concurrency < 1 or prefetch < 0:
            raise ConfigurationError("concurrency must be >= 1 and prefetch >= 0")
        options = WorkerOptions(
            queues=tuple(queues) if queues else self._default_queues(),
            concurrency=concurrency,
            prefetch=prefetch,
            lease=config.lease_seconds,
            grace_period=config.grace_period,
            retention=config.retention,
            max_attempts=config.max_attempts,
            burst=burst,
        )
        worker = Worker(
            self._client.new_broker(),
            self.resolve,
            options,
            hooks=self.hooks,
            echo_factory=lambda d, e, delivery, check: make_echo(self, d, e, delivery, check),
            broker_label=display_url(self.broker_url),
        )
        if schedule:
            worker.companions.append(self.scheduler().run)
        self._workers.add(worker)
        return worker

    def scheduler(self, schedules: Sequence[Schedule] | None = None) -> Scheduler:
        """A scheduler of ``schedules`` (default: every schedule of the app)."""
        from qtasks.schedule.scheduler import Scheduler

        chosen = list(self.schedules.values()) if schedules is None else list(schedules)
        if not chosen:
            raise ConfigurationError(
                f"app {self.name!r} has no schedules: declare one with @app.task(schedule=...) "
                "or app.schedule(...)"
            )
        return Scheduler(self, chosen)

    def _default_queues(self) -> tuple[str, ...]:
        queues = {self.config.default_queue}
        queues.update(h.definition.queue for h in self.tasks.values())
        return tuple(sorted(queues))

    async def serve(self, **worker_options: Any) -> None:
        """Run a worker in the current loop until it is stopped (``starting`` / ``stopping``
        events around it, as ``run_forever``)."""
        from qtasks.starters.base import serve_app

        await serve_app(self, None, worker_options)

    def run_forever(
        self,
        starter: Any = None,
        num_workers: int | None = None,
        reset_config: bool = True,
        **worker_options: Any,
    ) -> None:
        """Run a worker in this process until SIGTERM/SIGINT (or ``app.stop()``).

        :param starter: a ``qtasks.starters.SyncStarter`` / ``AsyncStarter`` to run it;
            default: a ``SyncStarter`` of this app. (An int here is ``num_workers``.)
        :param num_workers: tasks run at once (default: ``config.max_tasks_process``).
        :param reset_config: accepted for QTasks; the worker always follows the app's config.
        :param worker_options: ``queues=``, ``prefetch=``, ``burst=`` as for ``make_worker``.
        """
        from qtasks.starters.base import run_app

        run_app(self, starter, None, num_workers, reset_config, worker_options)

    def _request_stop(self) -> None:
        for worker in list(self._workers):
            worker.request_stop_threadsafe()


def dead_selection(
    uuids: Sequence[UUID | str], task_name: str | None, everything: bool
) -> DeadLetterQuery:
    """What ``requeue_dead`` / ``purge_dead`` act on; acting on all needs ``all=True``."""
    if not uuids and task_name is None and not everything:
        raise ValueError("name the dead letters (uuids or task_name=...) or pass all=True")
    if everything and (uuids or task_name is not None):
        raise ValueError("all=True acts on every dead letter; do not combine it with a filter")
    return DeadLetterQuery(ids=tuple(str(u) for u in uuids) or None, task_name=task_name)
