"""Declaring schedules on an app (a part of :class:`~qtasks.app.AppCore`):
``app.schedule("task", cron=...)`` and ``@app.task(schedule=...)``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Unpack

from qtasks.core.errors import ConfigurationError
from qtasks.schedule.spec import Schedule, ScheduleOptions, make_schedule


class Scheduling:
    schedules: dict[str, Schedule]
    """Every schedule of the app by name; ``qtasks run --schedule`` / ``qtasks timer`` fire them."""

    def schedule(self, task: Any, /, **options: Unpack[ScheduleOptions]) -> Schedule:
        """Run ``task`` (a task or its name) on a schedule: ``cron="0 3 * * *"`` (with ``tz=``),
        ``every=`` seconds, or an APScheduler ``trigger=``; ``args``, ``kwargs``,
        ``priority``, ``catch_up``, ``jitter``, ``skip_if_running``; once per tick however
        many schedulers run (docs/schedules.md). ``name`` (default: the task's) identifies it."""
        task_name = task if isinstance(task, str) else getattr(task, "task_name", None)
        if not isinstance(task_name, str):
            raise ConfigurationError(f"schedule() takes a task or a task name, not {task!r}")
        schedule = make_schedule(task_name, **options)
        return self._add_schedule(schedule)

    def _add_schedule(self, schedule: Schedule) -> Schedule:
        existing = self.schedules.get(schedule.name)
        if existing is not None and existing.task_name != schedule.task_name:
            raise ConfigurationError(
                f"a schedule named {schedule.name!r} already runs task {existing.task_name!r}; "
                "give this one another name="
            )
        self.schedules[schedule.name] = schedule  # the same task declared again: the latest
        return schedule

    def _schedule_declared(self, task_name: str, spec: Any) -> None:
        """``@app.task(schedule=spec)``: a cron string, seconds (or a timedelta), an
        APScheduler trigger, or a dict of :meth:`schedule`'s keywords."""
        if isinstance(spec, dict):
            self.schedule(task_name, **spec)
        elif isinstance(spec, str):
            self.schedule(task_name, cron=spec)
        elif isinstance(spec, (int, float, timedelta)) and not isinstance(spec, bool):
            self.schedule(task_name, every=spec)
        else:
            self.schedule(task_name, trigger=spec)
