"""Taskiq + taskiq-redis: ListQueueBroker with RedisAsyncResultBackend.

Tuning: ``--workers 1`` (default: 2 worker processes); everything else is taskiq's
default. The tasks are ``async def`` (taskiq's native kind).
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
}
ASYNC = True

if os.environ.get("BENCH_RUNTIME"):
    from _common import URL, record_start
    from taskiq_redis import ListQueueBroker, RedisAsyncResultBackend

    broker = ListQueueBroker(url=URL).with_result_backend(RedisAsyncResultBackend(redis_url=URL))

    @broker.task(task_name="noop")
    async def noop(i: int) -> int:
        return i

    @broker.task(task_name="lat")
    async def lat(i: int) -> int:
        record_start(i)
        return i

    async def setup() -> None:
        await broker.startup()

    async def teardown() -> None:
        await broker.shutdown()

    async def enqueue_noop(i: int) -> None:
        await noop.kiq(i)

    async def enqueue_lat(i: int) -> None:
        await lat.kiq(i)
