"""QTasks' timers: ``AsyncTimer(app)`` / ``SyncTimer(app)``, ``timer.add_task(...)`` and
``timer.run_forever()``, on qtasks' schedules (:mod:`qtasks.schedule`): each tick fires
once however many timers (and ``run --schedule`` workers) run.

Both classes are one implementation (the scheduler is asyncio); the two names are QTasks'.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from qtasks.core.errors import ConfigurationError
from qtasks.schedule.spec import Schedule, make_schedule

#: Keywords of ``add_task`` that configure the schedule; any other is the task's own.
_SCHEDULE_OPTIONS = ("schedule_name", "catch_up", "jitter", "skip_if_running", "tz")


class BaseTimer:
    """Fires the tasks added with :meth:`add_task` on their triggers, through ``app``."""

    def __init__(self, app: Any, log: logging.Logger | None = None, config: Any = None) -> None:
        self.app = app
        self.config = config if config is not None else app.config
        self.log = log or logging.getLogger("qtasks.timer")
        self.schedules: list[Schedule] = []
        self._scheduler: Any = None

    def add_task(
        self,
        *args: Any,
        task_name: str | None = None,
        trigger: Any = None,
        priority: int | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Schedule:
        """Run ``task_name`` (or the first positional argument) on ``trigger`` (an
        APScheduler trigger or a crontab string) with the remaining positional arguments
        and the keyword arguments (or ``args=[...]`` / ``kwargs={...}``, QTasks' documented
        form). ``schedule_name=``, ``catch_up=``, ``jitter=``, ``skip_if_running=``,
        ``tz=`` configure the schedule (docs/schedules.md). ``timeout`` is accepted for
        QTasks and ignored: a timer does not wait for results."""
        if task_name is None:
            if not args or not isinstance(args[0], str):
                raise ConfigurationError("add_task needs task_name= (or the name first)")
            task_name, args = args[0], args[1:]
        if trigger is None:
            raise ConfigurationError(f"add_task({task_name!r}) needs trigger=")
        options = {key: kwargs.pop(key) for key in _SCHEDULE_OPTIONS if key in kwargs}
        call_args = kwargs.pop("args", None)
        call_kwargs = kwargs.pop("kwargs", None)
        if call_args is not None and args:
            raise ConfigurationError("give the task's arguments positionally or as args=, not both")
        if call_kwargs is not None and kwargs:
            raise ConfigurationError("give the task's keywords directly or as kwargs=, not both")
        name = options.pop("schedule_name", None) or self._free_name(task_name)
        schedule = make_schedule(
            task_name,
            name=name,
            trigger=trigger,
            args=tuple(call_args) if call_args is not None else args,
            kwargs=call_kwargs if call_kwargs is not None else kwargs,
            priority=priority,
            **options,
        )
        self.app._add_schedule(schedule)
        self.schedules.append(schedule)
        return schedule

    def _free_name(self, task_name: str) -> str:
        """The task's name, or ``name#2``, ``#3``… when this app schedules it already."""
        name, number = task_name, 1
        while name in self.app.schedules:
            number += 1
            name = f"{task_name}#{number}"
        return name

    async def run(self) -> None:
        """Fire the schedules until :meth:`stop` (or SIGINT / SIGTERM under ``run_forever``)."""
        self._scheduler = self.app.scheduler(self.schedules)
        self.log.info(
            "timer of app %r firing %s", self.app.name, ", ".join(s.name for s in self.schedules)
        )
        await self._scheduler.run()

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.stop()

    def run_forever(self) -> None:
        """Run until SIGINT / SIGTERM."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.stop)
            await self.run()

        asyncio.run(main())


class AsyncTimer(BaseTimer):
    """The timer of an async app (``qtasks.asyncio.QueueTasks``); any app works."""


class SyncTimer(BaseTimer):
    """The timer of a sync app (``qtasks.QueueTasks``); any app works."""


__all__ = ["AsyncTimer", "BaseTimer", "SyncTimer"]
