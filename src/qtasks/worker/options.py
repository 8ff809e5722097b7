"""``WorkerOptions``: how one worker process runs (the app builds them from its config)."""

from __future__ import annotations

from dataclasses import dataclass

from qtasks.core.records import Retention


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerOptions:
    """How one worker process runs."""

    queues: tuple[str, ...]
    """Queues to take tasks from."""
    concurrency: int
    """Most tasks running at once (and the size of the sync thread pool)."""
    prefetch: int
    """Most tasks held beyond the running ones, claimed ahead to start the moment a slot
    frees; within it the worker holds about 50 ms of work (0: only what can start now)."""
    lease: float
    """Seconds a claim stays reserved without renewal."""
    grace_period: float
    """Seconds running tasks get to finish after SIGTERM."""
    retention: Retention
    """How long results and dead letters are kept."""
    max_attempts: int
    """Deliveries after which a task whose workers keep dying is failed."""
    burst: bool = False
    """Exit once no task is due and none is running."""
