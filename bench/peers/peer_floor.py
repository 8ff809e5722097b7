"""The floor: no framework, the least a Redis queue can do, with redis-py.

Enqueue is one ``RPUSH`` of a small JSON body (``{"task": "noop", "args": [i]}``) onto a
list. The worker (``python peer_floor.py``, this file) is one plain process, one thread: a
``BLPOP`` loop that runs the named task (the bench's own ``_common.SYNC_TASKS``, the same
bodies as every sync peer's) and then counts it done with one ``INCR`` of ``floor:done``,
which the harness reads with ``GET``. No result is stored, nothing is retried or acked:
what every library does beyond this is its price for features.
"""

from __future__ import annotations

import json
import os

META = {
    "label": "floor (redis-py)",
    "venv": None,  # the repository's own .venv (only redis-py is used)
    "dist": "redis",
    "packages": [],
    "worker": ["{python}", "peer_floor.py"],
    "tuning": "one process, one thread: BLPOP, run, INCR a done counter",
    "done": "get:floor:done",
    "kinds": ("noop", "io"),
}
QUEUE = "floor:q"
DONE = "floor:done"
BATCH = 1000

if os.environ.get("BENCH_RUNTIME"):
    import redis
    from _common import SYNC_TASKS, URL

    client = redis.Redis.from_url(URL)

    def _body(task: str, i: int) -> str:
        return json.dumps({"task": task, "args": [i]})

    def enqueue(task: str, i: int) -> None:
        client.rpush(QUEUE, _body(task, i))

    def prefill(n: int, task: str = "noop") -> None:
        for start in range(0, n, BATCH):
            client.rpush(QUEUE, *(_body(task, i) for i in range(start, min(n, start + BATCH))))

    def work() -> None:
        """The worker: until killed, take one message, run it, count it done."""
        while True:
            popped = client.blpop([QUEUE], timeout=1)
            if popped is None:
                continue
            message = json.loads(popped[1])
            SYNC_TASKS[message["task"]](*message["args"])
            client.incr(DONE)


if __name__ == "__main__":
    work()
