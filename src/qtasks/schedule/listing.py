"""What operators see of schedules (``qtasks schedule list``, ``manage.py qtasks_schedule
list``): each one's next fire, its last fire and the last run's status, read from the
schedule's key (core/unique.py) and the task holding it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qtasks.core.envelope import decode_envelope
from qtasks.core.errors import MessageDecodeError
from qtasks.schedule.spec import TICK_HEADER, Schedule

if TYPE_CHECKING:
    from qtasks.app import AppCore


@dataclass(frozen=True, slots=True)
class ScheduleState:
    schedule: Schedule
    queue: str
    next_fire: float | None
    """Unix time of the next tick after now (``None``: the trigger fires no more)."""
    last_tick: float | None
    """The tick of the last run sent (``None``: none yet, or its record expired)."""
    last_task_id: str | None
    last_status: str | None
    """That run's status now (``None``: none yet, or its record expired)."""

    def as_dict(self) -> dict[str, Any]:
        """As ``qtasks schedule list --json`` and the dashboard's ``/api/schedules`` show it."""
        return {
            "name": self.schedule.name,
            "task": self.schedule.task_name,
            "queue": self.queue,
            "trigger": self.schedule.trigger.describe(),
            "next_fire": self.next_fire,
            "last_tick": self.last_tick,
            "last_task": self.last_task_id,
            "last_status": self.last_status,
            "catch_up": self.schedule.catch_up,
        }


async def schedule_states(
    app: AppCore[Any], schedules: Sequence[Schedule] | None = None
) -> list[ScheduleState]:
    now = time.time()
    states = []
    for schedule in app.schedules.values() if schedules is None else schedules:
        if schedule.build is not None:
            queue = schedule.build(schedule, now).queue
        else:
            queue = app._envelope(schedule.task_name, (), {}, priority=None).queue
        hold = await app._client.unique_hold(queue, schedule.key)
        task_id = last_tick = status = None
        if hold is not None:
            task_id = hold[0]
            stored = await app._client.get(task_id)
            if stored is not None:
                status = stored.status.value
                try:
                    tick = decode_envelope(stored.body).headers.get(TICK_HEADER)
                    last_tick = float(tick) if tick is not None else None
                except (MessageDecodeError, ValueError):
                    last_tick = None
        states.append(
            ScheduleState(
                schedule=schedule,
                queue=queue,
                next_fire=schedule.trigger.next_after(now),
                last_tick=last_tick,
                last_task_id=task_id,
                last_status=status,
            )
        )
    return states
