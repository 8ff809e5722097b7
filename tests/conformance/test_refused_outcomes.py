"""A value the broker refuses (it answered, and said no) never holds back the batch it is
in: the others are stored, and the refused outcome is stored as an error saying why.

The refusal is injected into a real broker of each transport: no value we produce is
refused any more (texts are escaped first), but a store may still refuse what we cannot
foresee, and a refusal must never be retried forever as if the broker were down."""

from __future__ import annotations

import asyncio
from typing import Any

from qtasks import QueueTasks
from qtasks.core.errors import RefusedValueError
from qtasks.core.records import Outcome
from qtasks.core.status import TaskStatusEnum


def test_a_refused_outcome_is_stored_as_an_error_and_the_rest_of_its_batch_is_stored(
    broker_url: str,
) -> None:
    app = QueueTasks(broker_url=broker_url)

    @app.task(executor="loop")
    def echo(x: int) -> int:
        return x

    sent = app.add_tasks([echo(i) for i in range(20)])
    refused_id = str(sent[7].uuid)
    worker = app.make_worker(concurrency=20, burst=True)
    complete = worker.broker.complete
    batches: list[int] = []

    async def refusing(outcomes: list[Outcome], **options: Any) -> Any:
        batches.append(len(outcomes))
        if any(o.id == refused_id and o.status is TaskStatusEnum.SUCCESS for o in outcomes):
            raise RefusedValueError("value out of range for this store")
        return await complete(outcomes, **options)

    worker.broker.complete = refusing  # type: ignore[method-assign]
    asyncio.run(worker.run(install_signals=False))

    refused = app.get(refused_id)
    assert refused is not None and refused.status == TaskStatusEnum.ERROR.value
    assert "could not store this task's outcome (success)" in (refused.traceback or "")
    assert "value out of range for this store" in (refused.traceback or "")
    for record in sent:
        if str(record.uuid) != refused_id:
            final = app.get(record.uuid)
            assert final is not None and final.status == "success", final
    assert max(batches) > 1  # the refusal came in a batch, which was stored in parts
    app.close()
