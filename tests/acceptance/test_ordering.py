"""A worker started on a full queue runs tasks by priority (larger first), then FIFO."""

from __future__ import annotations

from pathlib import Path

from qtasks import QueueTasks

from .conftest import Workers, read_lines, wait_until

#: (label, priority) in enqueue order
PLAN = [
    ("a", 0),
    ("b", 5),
    ("c", 0),
    ("d", 9),
    ("e", 5),
    ("f", -1),
    ("g", 0),
    ("h", 9),
    ("i", 5),
    ("j", -1),
    ("k", 0),
    ("l", 9),
]


def test_priority_then_fifo_across_processes(
    tmp_path: Path, workers: Workers, client: QueueTasks
) -> None:
    out = tmp_path / "order.txt"
    task = client.tasks["append_value"]
    records = [task.add_task(str(out), label, priority=priority) for label, priority in PLAN]
    # and a batch of equal priority, enqueued in one round trip after the single calls
    batch = client.add_tasks([task(str(out), f"z{n}") for n in range(5)], priority=5)
    assert client.count() == {"new": len(PLAN) + 5}

    worker = workers.start("--concurrency", "1")
    total = len(PLAN) + len(batch)
    wait_until(lambda: len(read_lines(out)) >= total, timeout=60, what=f"{total} tasks to run")

    expected = [label for label, _ in sorted(PLAN[:], key=lambda p: -p[1])]
    # the batch (priority 5) comes after the single priority-5 calls, in its own order
    fives = expected.index("i") + 1
    expected[fives:fives] = [f"z{n}" for n in range(5)]
    assert read_lines(out) == expected

    for record in [*records, *batch]:
        assert record is not None
        done = client.wait_result(record.uuid, timeout=30)
        assert done is not None and done.status == "success"
    assert worker.alive()
