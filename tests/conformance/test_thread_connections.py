"""A thread per call (a web server's thread per request) does not pile up connections:
the sync facade closes the broker and loop of each thread that has ended, the next
time a thread makes its loop. On every transport, and counted on the Redis server."""

from __future__ import annotations

import gc
import threading

from qtasks import QueueTasks

UNKNOWN = "0190a8e8-0000-7000-8000-000000000000"


def _one_call_per_thread(app: QueueTasks, threads: int) -> None:
    for _ in range(threads):
        thread = threading.Thread(target=app.get, args=(UNKNOWN,))
        thread.start()
        thread.join()


def test_finished_threads_leave_no_broker_open(broker_url: str) -> None:
    app = QueueTasks(name="threads", broker_url=broker_url)
    _one_call_per_thread(app, 20)
    gc.collect()
    assert len(app._client._brokers) <= 1  # the last thread's, closed by the next one
    assert app.get(UNKNOWN) is None  # this thread's own still works
    app.close()


def test_redis_connections_do_not_pile_up() -> None:
    import redis

    from tests.conftest import REDIS_URL

    name = "qtasks-thread-test"
    url = f"{REDIS_URL}?client_name={name}"
    app = QueueTasks(name="threads", broker_url=url)
    server = redis.Redis.from_url(REDIS_URL)

    def open_connections() -> int:
        return sum(1 for c in server.client_list() if c.get("name") == name)

    try:
        _one_call_per_thread(app, 30)
        assert open_connections() <= 2
    finally:
        app.close()
        server.close()
