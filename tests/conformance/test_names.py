"""One rule for task and queue names on every transport, checked in the caller: at most
255 characters of valid Unicode, no NUL. A name within the rule round-trips everywhere,
through retries and dead letters too."""

from __future__ import annotations

import pytest

from qtasks import QueueTasks
from qtasks.config import QueueConfig
from qtasks.core.errors import ConfigurationError
from qtasks.core.names import MAX_NAME_LENGTH
from qtasks.testing import drain


def test_the_longest_and_oddest_names_round_trip_through_retries_and_dead_letters(
    broker_url: str,
) -> None:
    app = QueueTasks(broker_url=broker_url, config=QueueConfig(retry_backoff=0))
    odd = "é{x}:\n\t%🙂"
    task_name = (odd * 40)[:MAX_NAME_LENGTH]
    queue = ("q" + odd * 40)[:MAX_NAME_LENGTH]

    @app.task(task_name, queue=queue, retry=1)
    def failing() -> None:
        raise RuntimeError("always")

    record = failing.add_task()
    assert drain(app, queues=[queue]) == 2
    first = app.get(record.uuid)
    assert first is not None and first.task_name == task_name and first.status == "retry"
    dead = app.dead_letters()
    assert [(d.task_name, d.status) for d in dead] == [(task_name, "error")]
    assert app.dead_letters(task_name=task_name, queue=queue)[0].uuid == dead[0].uuid
    app.close()


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("x" * (MAX_NAME_LENGTH + 1), "at most 255 characters"),
        ("a\x00b", "NUL"),
        ("a\ud800b", "not valid Unicode"),
        ("", "non-empty"),
    ],
)
def test_names_outside_the_rule_are_refused_in_the_caller_and_nothing_is_sent(
    broker_url: str, name: str, why: str
) -> None:
    app = QueueTasks(broker_url=broker_url)
    with pytest.raises(ConfigurationError, match=why):
        app.add_task(name)
    with pytest.raises(ConfigurationError, match=why):
        app.task(name)(lambda: None)
    if name:  # queue="" means the default queue
        with pytest.raises(ConfigurationError, match=why):
            app.task("fine", queue=name)(lambda: None)
    assert sum(app.count().values()) == 0
    app.close()
