"""Retries, as a hook: a failed run with attempts left becomes a ``retry`` outcome whose
child message (the same call, delayed by the backoff) is stored in the same atomic step."""

from __future__ import annotations

import dataclasses
import json

from qtasks.core.definition import TaskDefinition
from qtasks.core.envelope import Envelope
from qtasks.core.hooks import Hook, Run
from qtasks.core.ids import new_task_id
from qtasks.core.records import Delivery, Outcome
from qtasks.core.retry import backoff_delay
from qtasks.core.status import TaskStatusEnum
from qtasks.worker.pydantic_args import TaskArgumentsError

#: Header carrying, into a retry, the workers that ran the earlier attempts (JSON list).
PRIOR_WORKERS = "qtasks.prior_worker_ids"
#: Header carrying, into a retry, the id of the first task of the chain.
ROOT_ID = "qtasks.root_id"


def root_id(envelope: Envelope) -> str:
    """The id of the first task of a retry chain (the task's own id if not a retry)."""
    return envelope.headers.get(ROOT_ID, envelope.id)


def all_worker_ids(envelope: Envelope, delivery: Delivery) -> tuple[str, ...]:
    """Every worker that claimed this task, earlier attempts of a retry chain included."""
    prior = envelope.headers.get(PRIOR_WORKERS)
    return (*json.loads(prior), *delivery.worker_ids) if prior else delivery.worker_ids


class Retries(Hook):
    """``retry=N`` / ``retry_on_exc=``: re-enqueue a failed run with exponential backoff."""

    order = 900

    def applies(self, definition: TaskDefinition) -> bool:
        return definition.retry > 0  # the task's own option decides, whatever a message says

    async def outcome(self, run: Run, outcome: Outcome, error: BaseException | None) -> Outcome:
        if (
            outcome.status is not TaskStatusEnum.ERROR
            or error is None
            or isinstance(error, TaskArgumentsError)  # the same arguments would fail again
            or not run.definition.should_retry(error, run.envelope.retries_left)
        ):
            return outcome
        child = retry_child(run.definition, run.envelope, run.delivery, outcome.finished_at)
        return dataclasses.replace(outcome, status=TaskStatusEnum.RETRY, retry=child)


def retry_child(
    definition: TaskDefinition, envelope: Envelope, delivery: Delivery, now: float
) -> Envelope:
    """The next attempt: the same call, delayed by the backoff, linked to this one."""
    retry_number = definition.retry - envelope.retries_left + 1
    delay = backoff_delay(
        retry_number, base=definition.retry_backoff, maximum=definition.retry_backoff_max
    )
    return Envelope(
        id=new_task_id(),
        task_name=envelope.task_name,
        queue=envelope.queue,
        args=envelope.args,
        kwargs=envelope.kwargs,
        priority=envelope.priority,
        eta=now + delay,
        created_at=now,
        retries_left=envelope.retries_left - 1,
        retry_of=envelope.id,
        headers={
            **envelope.headers,
            PRIOR_WORKERS: json.dumps(all_worker_ids(envelope, delivery)),
            ROOT_ID: root_id(envelope),
        },
        # the unique key goes with the call: the transport hands it to this attempt in the
        # step that enqueues it (core/unique.py)
        unique_key=envelope.unique_key,
        unique_until=envelope.unique_until,
        unique_while_running=envelope.unique_while_running,
    )
