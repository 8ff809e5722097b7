"""An argument JSON cannot carry fails in the caller, and nothing reaches the queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from qtasks import QueueTasks

from .conftest import query


def test_unserializable_argument_raises_in_the_caller(db_path: Path, client: QueueTasks) -> None:
    add = client.tasks["add"]
    with pytest.raises(TypeError, match="not JSON-serializable"):
        add.add_task(object())
    with pytest.raises(TypeError):
        add.add_task(1, b=object())
    with pytest.raises(TypeError):
        client.add_task("add", 1 + 2j, 1, timeout=30)  # with timeout: raises, does not wait
    with pytest.raises(TypeError):
        # a batch is all or nothing: the good calls before the bad one are not enqueued
        client.add_tasks([add(1, 2), ("add", (3, 4)), ("add", (object(), 1))])

    assert client.count() == {}
    assert query(db_path, "SELECT count(*) FROM qtasks_task") == [(0,)]

    # the client is still usable afterwards
    ok = add.add_task(1, 2)
    assert ok is not None and ok.status == "new"
    assert query(db_path, "SELECT count(*) FROM qtasks_task") == [(1,)]
