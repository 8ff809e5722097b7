"""Two apps on one broker, with real worker processes: each runs only its own tasks.

The bug this holds down: a worker of app ``alpha`` claimed the tasks of app ``beta`` on
the same URL and failed them as "no task named ... is registered".
"""

from __future__ import annotations

import signal

import pytest

from qtasks import QueueTasks

from . import procapp
from .conftest import Workers, wait_until

pytestmark = pytest.mark.parametrize(
    "db_url", ["sqlite", "redis", "redis-cluster", "postgres"], indirect=True
)


def test_a_worker_never_takes_another_apps_tasks(db_url: str, workers: Workers) -> None:
    alpha = procapp.make_app(broker_url=db_url, name="alpha")
    beta = QueueTasks(name="beta", broker_url=db_url)
    try:
        worker = workers.start(env={"PROCAPP_NAME": "alpha"})
        worker.wait_ready()
        foreign = beta.add_task("only_in_beta", 1)
        same_name = beta.add_task("add", 1, 2)  # alpha registers "add"; beta's stays beta's
        mine = alpha.add_task("add", 2, 3, timeout=30)
        assert mine is not None and mine.returning == 5
        assert foreign is not None and same_name is not None
        for waiting in (foreign, same_name):
            record = beta.get(waiting.uuid)
            assert record is not None and record.status == "new", record
            assert alpha.get(waiting.uuid) is None
        assert beta.count() == {"new": 2}
        assert alpha.count() == {"success": 1}

        # beta's own worker runs beta's task; the unknown one fails in beta, not in alpha
        beta_worker = workers.start(env={"PROCAPP_NAME": "beta"})
        beta_worker.wait_ready()
        done = beta.wait_result(same_name.uuid, timeout=30)
        assert done is not None and done.returning == 3
        failed = beta.wait_result(foreign.uuid, timeout=30)
        assert failed is not None and failed.status == "error"
        wait_until(lambda: beta.dead_letters(), timeout=10, what="beta's dead letter")
        assert alpha.dead_letters() == []

        # flush_all empties one app only
        alpha.flush_all()
        assert alpha.get(mine.uuid) is None
        assert beta.get(same_name.uuid) is not None
        for w in (worker, beta_worker):
            w.send(signal.SIGTERM)
            assert w.wait_exit(30) == 0
    finally:
        alpha.flush_all()
        beta.flush_all()
        alpha.close()
        beta.close()
