"""``TaskLog``: one log line per task event, on the logger ``qtasks.tasks``.

=====================================  =========================================
event                                  level
=====================================  =========================================
started                                DEBUG
succeeded, with its duration           INFO (``success_level``: DEBUG with
                                       ``qtasks run --quiet-success``)
failed, with the traceback             ERROR
timed out                              ERROR
retried: attempt, delay, the retry id  WARNING
cancelled, with the reason             WARNING
a dead worker's task run again         WARNING, naming the worker that died
=====================================  =========================================

Every record carries the task's fields as attributes (``task_id``, ``task_name``,
``queue``, ``attempt``, ``worker_id``, and at the end ``status`` and ``duration_ms``),
which :class:`~qtasks.logs.formats.JsonFormatter` writes as JSON keys.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from qtasks.core.hooks import CallNext, Hook, Run
from qtasks.core.status import TaskStatusEnum

if TYPE_CHECKING:
    from qtasks.core.records import Outcome

log = logging.getLogger("qtasks.tasks")

_TIMEOUT = "TaskTimeoutError"


class TaskLog(Hook):
    """Logs each run; outer, so it sees the final outcome (a retry, a time-out) and its
    duration covers every hook."""

    order = 80

    def __init__(self, success_level: int = logging.INFO) -> None:
        self.success_level = success_level

    async def execute(self, run: Run, call_next: CallNext) -> Any:
        delivery = run.delivery
        if delivery.attempt > 1 and log.isEnabledFor(logging.WARNING):
            earlier = delivery.worker_ids[:-1]
            lost = earlier[-1] if earlier else "unknown"
            log.warning(
                "task %s[%s] recovered from worker %s, which stopped while running it (attempt %d)",
                run.envelope.task_name,
                run.envelope.id,
                lost,
                delivery.attempt,
                extra={**_fields(run), "lost_worker_id": lost},
            )
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "task %s[%s] started (queue %s, attempt %d)",
                run.envelope.task_name,
                run.envelope.id,
                run.envelope.queue,
                delivery.attempt,
                extra=_fields(run),
            )
        return await call_next(run)

    async def outcome(self, run: Run, outcome: Outcome, error: BaseException | None) -> Outcome:
        status = outcome.status
        level = self._level(status)
        if not log.isEnabledFor(level):
            return outcome
        took = (time.perf_counter() - run.started) * 1000
        fields = {**_fields(run), "status": status.value, "duration_ms": round(took, 3)}
        head = f"task {run.envelope.task_name}[{run.envelope.id}]"
        if status is TaskStatusEnum.SUCCESS:
            log.log(level, "%s succeeded in %s", head, _ms(took), extra=fields)
        elif status is TaskStatusEnum.CANCEL:
            reason = outcome.cancel_reason or "no reason given"
            log.log(level, "%s cancelled after %s: %s", head, _ms(took), reason, extra=fields)
        elif status is TaskStatusEnum.RETRY:
            self._retried(run, outcome, head, took, fields)
        else:
            self._failed(run, outcome, head, took, fields)
        return outcome

    def _level(self, status: TaskStatusEnum) -> int:
        if status is TaskStatusEnum.SUCCESS:
            return self.success_level
        if status is TaskStatusEnum.ERROR:
            return logging.ERROR
        return logging.WARNING

    def _retried(
        self, run: Run, outcome: Outcome, head: str, took: float, fields: dict[str, Any]
    ) -> None:
        child = outcome.retry
        definition = run.definition
        number = definition.retry - run.envelope.retries_left + 1
        delay = max(0.0, child.eta - outcome.finished_at) if child and child.eta else 0.0
        fields.update(retry=number, retry_delay=round(delay, 3), retry_id=child and child.id)
        log.warning(
            "%s failed in %s, retry %d of %d in %.1fs as %s: %s",
            head,
            _ms(took),
            number,
            definition.retry,
            delay,
            child.id if child else "?",
            _last_line(outcome.traceback),
            extra=fields,
        )

    def _failed(
        self, run: Run, outcome: Outcome, head: str, took: float, fields: dict[str, Any]
    ) -> None:
        if (outcome.error_type or "").endswith(_TIMEOUT):
            limit = run.definition.max_time
            text = f"{head} timed out after {limit:g}s" if limit else f"{head} timed out"
            log.error("%s", text, extra={**fields, "headline": text})
            return
        headline = f"{head} failed in {_ms(took)}: {_last_line(outcome.traceback)}"
        fields.update(headline=headline, traceback=outcome.traceback)
        log.error("%s\n%s", headline, (outcome.traceback or "").rstrip(), extra=fields)


def _fields(run: Run) -> dict[str, Any]:
    envelope = run.envelope
    return {
        "task_id": envelope.id,
        "task_name": envelope.task_name,
        "queue": envelope.queue,
        "attempt": run.delivery.attempt,
        "worker_id": getattr(run.worker, "id", None),
    }


def _ms(milliseconds: float) -> str:
    if milliseconds < 1000:
        return f"{milliseconds:.1f} ms"
    return f"{milliseconds / 1000:.2f} s"


def _last_line(traceback: str | None) -> str:
    lines = (traceback or "").strip().splitlines()
    return lines[-1] if lines else "no error text"
