"""Periodic tasks that fire once per tick however many schedulers run (docs/schedules.md).

- :mod:`.triggers`: when (crontab strings with time zones, periods, APScheduler triggers);
- :mod:`.spec`: a :class:`Schedule` as declared;
- :mod:`.declare`: ``app.schedule(...)`` and ``@app.task(schedule=...)``;
- :mod:`.scheduler`: the loop that sends each tick as a unique task (core/unique.py);
- :mod:`.listing`: what ``qtasks schedule list`` shows.
"""

from qtasks.schedule.spec import Schedule, make_schedule
from qtasks.schedule.triggers import Cron, Every, Trigger, make_trigger

__all__ = ["Cron", "Every", "Schedule", "Trigger", "make_schedule", "make_trigger"]
