"""``BaseStarter``: what runs an app's worker for ``app.run_forever()``, and the one
implementation of that run.

A starter's run, in order: the ``starter_start`` plugin trigger, the ``starting`` event
(``starter``, ``worker``, ``broker``), the worker (its own ``worker_running`` ...
``worker_stopping`` events and plugin triggers), then ``starter_stop`` and the
``stopping`` event, once the worker has stopped (SIGTERM/SIGINT, ``app.stop()``,
``starter.stop()``, or a ``burst=True`` worker running dry). The events go to the app's
``events`` and, when the starter was given others, to those too.

The worker is the app's own (``app.make_worker``, from the app's config): the
``broker``, ``worker``, ``config`` and ``reset_config`` a starter is given are accepted
for QTasks' signatures, and a starter ``name`` other than the app's is refused.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from qtasks.banner import banner
from qtasks.core.errors import ConfigurationError

if TYPE_CHECKING:
    from qtasks.worker import Worker


class BaseStarter(ABC):
    """Base class of ``SyncStarter`` / ``AsyncStarter``; subclass it for your own."""

    def __init__(
        self,
        name: str | None = None,
        broker: Any = None,
        worker: Any = None,
        log: logging.Logger | None = None,
        config: Any = None,
        events: Any = None,
    ) -> None:
        """
        :param name: the app's name; default: the app's it runs (another name is refused).
        :param broker: accepted for QTasks (the app's broker is used).
        :param worker: accepted for QTasks (the app's worker is run).
        :param log: where "Starting/Stopping QueueTasks" go; default ``qtasks.starter``.
        :param config: accepted for QTasks; default and in effect: the app's config.
        :param events: events to fire ``starting`` / ``stopping`` on besides the app's.
        """
        self.name = name
        self.broker = broker
        self.worker = worker
        self.log = log if log is not None else logging.getLogger("qtasks.starter")
        self.config = config
        self.events = events
        #: QTasks' layout of this starter's own plugins: trigger name (or ``"Globals"``) -> plugins.
        self.plugins: dict[str, list[Any]] = {}
        #: The app this starter runs (set by ``app.run_forever(starter=...)``).
        self.app: Any = None
        self._registry: Any = None
        self._running: Worker | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested = False
        self.init_plugins()

    # QTasks' surface ---------------------------------------------------------------------

    @abstractmethod
    def start(self, *args: Any, **kwargs: Any) -> None:
        """Run the app's worker until it stops (called by ``app.run_forever``)."""

    @abstractmethod
    def stop(self) -> Any:
        """Ask the running worker to stop gracefully."""

    def init_plugins(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Called at the end of ``__init__``: add this starter's plugins here."""

    def add_plugin(self, plugin: Any, trigger_names: list[str] | None = None) -> None:
        """A plugin for this starter's triggers (``starter_start``, ``starter_stop``)."""
        from qtasks.plugins.adapter import PluginRegistry

        if self._registry is None:
            self._registry = PluginRegistry()
        self._registry.add(plugin, trigger_names, None)
        for name in trigger_names or ["Globals"]:
            self.plugins.setdefault(name, []).append(plugin)

    def update_configs(self, config: Any) -> None:
        """QTasks' config push to components; ours follow the app's config already."""
        self.config = config

    # the run (one implementation) ------------------------------------------------------

    def _bind(self, app: Any) -> None:
        if self.name is not None and self.name != app.name:
            raise ConfigurationError(
                f"{type(self).__name__}(name={self.name!r}) given to the app {app.name!r}: "
                "name the starter as the app, or leave its name out"
            )
        self.app = app
        if self.config is None:
            self.config = app.config

    async def serve(self, **worker_options: Any) -> None:
        """Run the app's worker in the running loop until it stops, between the starter's
        triggers and the ``starting`` / ``stopping`` events."""
        if self.app is None:
            raise ConfigurationError(
                f"{type(self).__name__} runs an app's worker: app.run_forever(starter=...)"
            )
        worker = self.app.make_worker(**worker_options)
        self._loop = asyncio.get_running_loop()
        self._running = worker
        if self._stop_requested:
            worker.request_stop()
        self.log.info("Starting QueueTasks...")
        self.log.info("%s", banner(self.app, worker))
        try:
            await self._start_plugins()
            await self._plugin_trigger("starter_start", starter=self)
            await self._fire("starting", worker)
            await worker.run()
        finally:
            self.log.info("Stopping QueueTasks...")
            await self._stop_plugins()
            await self._fire("stopping", worker)
            self._running = self._loop = None
            self._stop_requested = False

    def _run_blocking(
        self,
        loop: asyncio.AbstractEventLoop | None,
        num_workers: int | None,
        plugins: dict[str, list[Any]] | None,
        worker_options: dict[str, Any],
    ) -> None:
        """``start()``'s body: ``serve`` in ``loop`` (default: a new one) until it ends."""
        for trigger, added in (plugins or {}).items():
            for plugin in added:
                self.add_plugin(plugin, None if trigger == "Globals" else [trigger])
        run = self.serve(concurrency=num_workers, **worker_options)
        if loop is None:
            asyncio.run(run)
        else:
            loop.run_until_complete(run)

    def _request_stop(self) -> None:
        worker, loop = self._running, self._loop
        if worker is None or loop is None:
            self._stop_requested = True  # not made yet: it stops as soon as it starts
        elif not loop.is_closed():  # on the worker's loop, even before its run began
            loop.call_soon_threadsafe(worker.request_stop)

    async def _fire(self, event_name: str, worker: Worker) -> None:
        from qtasks.events.hook import as_events

        seen: list[Any] = []
        for given in (self.app.events, self.events):
            if given is None or any(given is e for e in seen):
                continue
            seen.append(given)
            events = as_events(given)
            if events.listens(event_name):
                await events.emit(event_name, starter=self, worker=worker, broker=worker.broker)

    # plugins: where the starter's triggers go --------------------------------------------

    def _registries(self) -> list[Any]:
        """The app's plugins (``app.add_plugin``), then this starter's own."""
        from qtasks.plugins.adapter import PluginHook

        found = [hook.registry for hook in self.app.hooks.of_type(PluginHook)]
        return found + ([self._registry] if self._registry is not None else [])

    async def _plugin_trigger(self, trigger: str, **kwargs: Any) -> None:
        """Fire a starter trigger (``starter_start``: its failure stops the start;
        ``starter_stop``: logged)."""
        for registry in self._registries():
            if not registry.listens(trigger):
                continue
            if trigger == "starter_start":
                await registry.fire(trigger, **kwargs)
                continue
            try:
                await registry.fire(trigger, **kwargs)
            except Exception:
                self.log.exception("plugin trigger %s failed", trigger)

    async def _start_plugins(self) -> None:
        """``start()`` of this starter's own plugins (the app's start with the worker)."""
        if self._registry is not None:
            for plugin in self._registry.plugins():
                await _maybe_await(plugin.start())

    async def _stop_plugins(self) -> None:
        await self._plugin_trigger("starter_stop", starter=self)
        if self._registry is not None:
            for plugin in self._registry.plugins():
                try:
                    await _maybe_await(plugin.stop())
                except Exception:
                    self.log.exception("plugin %r failed to stop", plugin)


async def _maybe_await(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) or asyncio.isfuture(value) else value


def default_starter(app: Any) -> BaseStarter:
    """The starter ``run_forever`` uses when given none: the app's kind's."""
    from qtasks.starters.async_starter import AsyncStarter
    from qtasks.starters.sync_starter import SyncStarter

    kind: type[BaseStarter] = getattr(app, "_starter_class", None) or SyncStarter
    if kind is AsyncStarter or kind is SyncStarter:
        return kind(log=app.log, events=app.events)
    return kind()


def _prepared(app: Any, starter: Any) -> BaseStarter:
    if starter is None:
        starter = default_starter(app)
    if not isinstance(starter, BaseStarter):
        raise TypeError(
            f"starter= takes a qtasks.starters.SyncStarter / AsyncStarter (or a BaseStarter "
            f"subclass), not {starter!r}"
        )
    starter._bind(app)
    app.starter = starter
    return starter


async def serve_app(app: Any, starter: Any, worker_options: dict[str, Any]) -> None:
    """``await app.serve(...)``: the starter's run in the running loop."""
    await _prepared(app, starter).serve(**worker_options)


def run_app(
    app: Any,
    starter: Any,
    loop: Any,
    num_workers: int | None,
    reset_config: bool,
    worker_options: dict[str, Any],
) -> None:
    """``app.run_forever(...)``: ``starter.start(...)`` (``run_forever(4)``, today's
    spelling, is ``num_workers=4``)."""
    for positional in (starter, loop):
        if isinstance(positional, int) and not isinstance(positional, bool):
            if num_workers is not None:
                raise TypeError("run_forever() got num_workers twice")
            num_workers = positional
    starter = None if isinstance(starter, int) else starter
    loop = None if isinstance(loop, int) else loop
    prepared = _prepared(app, starter)
    extra: dict[str, Any] = dict(worker_options)
    if loop is not None:
        extra["loop"] = loop
    prepared.start(num_workers=num_workers, reset_config=reset_config, **extra)


__all__ = ["BaseStarter", "default_starter", "run_app", "serve_app"]
