"""qtasks without Django (issue #16's yardstick for the Django path): a plain
``qtasks.QueueTasks`` app (``plainapp.py``, app "plain", sync API) with the same four task
bodies, ``task.add_task(i)`` one call at a time, worker ``python -m qtasks -A plainapp:app
run`` with its defaults (concurrency 10: the sync tasks run on a pool of 10 threads,
prefetch 100).

It runs in the qtasks peer's venv (``dj-qtasks``) from the same qtasks source, on its own
Redis database (10), so neither peer's reset touches the other's keys or ``bench:io``.
The worker logs at WARNING, as the Django worker does in effect (Django's logging
configuration prints no INFO line of qtasks'); the CLI's default, INFO, writes a line per
task. The driver's hooks (``enqueue_call``, ``result_status``, ``latency_call``) send the
tasks and read their records through the plain app instead of Django's backend.
"""

from __future__ import annotations

import os
from typing import Any

from peer_dj_qtasks import META as _QTASKS

META: dict[str, Any] = {
    "label": "qtasks, plain app (no Django)",
    "venv": _QTASKS["venv"],  # the same venv: setup installs it once
    "dist": "qtasks",
    "extra_dists": ["redis", "hiredis"],
    "packages": _QTASKS["packages"],
    "settings": "benchsite.settings_plain",  # only for importing benchtasks.tasks
    "redis_db": 10,
    "worker": [
        *("{python}", "-m", "qtasks", "-A", "plainapp:app"),
        *("--log-level", "WARNING", "run"),
    ],
    "tuning": "defaults: concurrency 10 (thread pool), prefetch 100, results stored 1 day;"
    " logs at WARNING",
    "poll": 0.002,
    "poll_commands": {"zcard": 2},  # sent by one done_count(); on Redis: cost measured
}

if os.environ.get("BENCH_RUNTIME"):
    import redis
    from plainapp import TASKS, app

    _r = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    _STEM = "qtasks:plain:{plain:default}:"  # app "plain", queue "default"
    #: qtasks' statuses as the Django ``TaskResultStatus`` names ``verify`` counts
    _STATUS = {"success": "SUCCESSFUL", "error": "FAILED"}

    class _Sent:
        """What ``enqueue_call``'s callable returns: the driver reads ``.id``."""

        __slots__ = ("id",)

        def __init__(self, task_id: Any) -> None:
            self.id = task_id

    def reset() -> None:
        keys = list(_r.scan_iter(match="qtasks:plain:*", count=10_000))
        for start in range(0, len(keys), 10_000):
            _r.delete(*keys[start : start + 10_000])

    def queued() -> int:
        """Tasks waiting in the ready set."""
        return int(_r.zcard(_STEM + "ready"))

    def done_count() -> tuple[int, int]:
        """(succeeded, failed): the per-status sets of finished tasks."""
        pipe = _r.pipeline(transaction=False)
        pipe.zcard(_STEM + "fin:success")
        pipe.zcard(_STEM + "fin:error")
        ok, failed = pipe.execute()
        return int(ok), int(failed)

    def enqueue_call(kind: str) -> Any:
        """``i -> (object with .id)``: ``TASKS[kind].add_task(i)``, its record's uuid."""
        add = TASKS[kind].add_task

        def call(i: int) -> _Sent:
            return _Sent(add(i).uuid)

        return call

    def result_status(task_id: str) -> str:
        """The task's status by its record (``app.get``), in Django's names."""
        record = app.get(task_id)
        if record is None:
            return "missing"
        return _STATUS.get(record.status, record.status.upper())

    def latency_call(task: str) -> Any:
        return TASKS[task].add_task
