"""Taskiq + taskiq-redis: ListQueueBroker with RedisAsyncResultBackend.

Tuning: ``--workers 1`` (default: 2 worker processes); everything else is taskiq's
default. The tasks are ``async def`` (taskiq's native kind; the io task awaits
``redis.asyncio``).
"""

from __future__ import annotations

import os

META = {
    "label": "Taskiq",
    "venv": "taskiq",
    "dist": "taskiq",
    "extra_dists": ["taskiq-redis", "redis"],
    "packages": ["taskiq>=0.11", "taskiq-redis"],
    "worker": [
        "{bin}/taskiq",
        "worker",
        "peer_taskiq:broker",
        "--workers",
        "1",
        "--log-level",
        "WARNING",
    ],
    "tuning": "--workers 1 (default 2 processes); async task, results in Redis",
    "done": "dbsize_minus:taskiq",  # one result key per task, minus the queue LIST
    "kinds": ("noop", "io"),
}
ASYNC = True

if os.environ.get("BENCH_RUNTIME"):
    from _common import ASYNC_TASKS, URL
    from taskiq_redis import ListQueueBroker, RedisAsyncResultBackend

    broker = ListQueueBroker(url=URL).with_result_backend(RedisAsyncResultBackend(redis_url=URL))

    TASKS = {name: broker.task(task_name=name)(f) for name, f in ASYNC_TASKS.items()}

    async def setup() -> None:
        await broker.startup()

    async def teardown() -> None:
        await broker.shutdown()

    async def enqueue(task: str, i: int) -> None:
        await TASKS[task].kiq(i)
