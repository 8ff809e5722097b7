"""Two worker processes on one SQLite file drain a queue: every task runs exactly once."""

from __future__ import annotations

import collections
import signal
from pathlib import Path

from qtasks import QueueTasks

from .conftest import Workers, query, read_lines, wait_until

N = 2000


def test_two_workers_share_one_file_without_duplicates_or_losses(
    tmp_path: Path, db_path: Path, workers: Workers, client: QueueTasks
) -> None:
    runs = tmp_path / "runs.txt"
    pair = [workers.start(), workers.start()]
    for worker in pair:
        worker.wait_ready()

    records = client.tasks["record_run"].add_tasks([(str(runs), i) for i in range(N)])
    assert len({r.uuid for r in records}) == N

    def drained() -> bool:
        counts = client.count()
        assert set(counts) <= {"new", "process", "success"}, counts
        return counts.get("success", 0) == N

    wait_until(drained, timeout=90, what=f"{N} tasks to succeed", interval=0.2)

    # each task ran exactly once (the tasks log every run, from both processes, to one file)
    lines = read_lines(runs)
    ran = collections.Counter(int(line.split()[0]) for line in lines)
    duplicates = {i: n for i, n in ran.items() if n > 1}
    assert not duplicates, f"tasks run more than once: {duplicates}"
    assert sorted(ran) == list(range(N)), "some tasks never ran"
    pids = {int(line.split()[1]) for line in lines}
    assert pids <= {w.pid for w in pair}

    # each stored result is there and right
    for i, record in enumerate(records):
        done = client.get(record.uuid)
        assert done is not None, f"task {i} lost"
        assert done.status == "success"
        assert done.returning == i * 2
        assert done.attempt == 1
    rows = query(
        db_path, "SELECT count(*), count(DISTINCT worker_id), max(attempt) FROM qtasks_task"
    )
    assert rows[0][0] == N and rows[0][2] == 1
    assert rows[0][1] >= 1
    per_worker = dict(query(db_path, "SELECT worker_id, count(*) FROM qtasks_task GROUP BY 1"))
    print("tasks per worker:", per_worker)

    for worker in pair:
        assert worker.alive()
        worker.send(signal.SIGTERM)
    for worker in pair:
        assert worker.wait_exit(30) == 0


def test_workers_started_together_on_a_new_file(
    db_path: Path, db_url: str, workers: Workers
) -> None:
    """Several workers opening a file that does not exist yet all create/accept the schema."""
    assert not db_path.exists()
    group = [workers.start() for _ in range(3)]
    for worker in group:
        worker.wait_ready()
    from .procapp import make_app

    app = make_app(broker_url=db_url)
    done = app.tasks["add"].add_task(1, 1, timeout=30)
    assert done is not None and done.returning == 2
    assert all(w.alive() for w in group)
