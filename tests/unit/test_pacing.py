"""The prefetch reserve is sized by time: deep for quick tasks, none for slow ones."""

from __future__ import annotations

import time

from qtasks.worker.pacing import Pacer


def test_no_reserve_before_any_task_finished() -> None:
    assert Pacer(cap=100).reserve == 0


def test_quick_tasks_fill_the_reserve_up_to_the_cap() -> None:
    pacer = Pacer(cap=100, horizon=0.05)
    time.sleep(Pacer.WINDOW)
    pacer.finished(10_000)  # about 100,000 tasks/s: 50 ms of work is 5,000 tasks
    assert pacer.reserve == 100


def test_slow_tasks_get_no_reserve() -> None:
    pacer = Pacer(cap=100, horizon=0.05)
    time.sleep(Pacer.WINDOW)
    pacer.finished(1)  # about 10 tasks/s: 50 ms of work is half a task
    assert pacer.reserve == 0


def test_zero_cap_never_reserves() -> None:
    pacer = Pacer(cap=0)
    time.sleep(Pacer.WINDOW)
    pacer.finished(10_000)
    assert pacer.reserve == 0
