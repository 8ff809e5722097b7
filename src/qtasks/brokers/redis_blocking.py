"""Sync callers' enqueue on one Redis server: one script on one connection of its own.

A sync ``add_task`` needs no event loop to talk to Redis (``core.broker.blocking_caller``),
so :class:`~qtasks.brokers.redis.RedisBroker` sends the enqueue script on a blocking
connection. Measured here, redis-py's client object costs about 45 µs of CPU per call
around the socket (pool checkout and return, retry and event wrappers, observability
hooks) against about 50 µs for the command itself; a sync producer calls it once per
task. So this holds one connection (made by redis-py from the URL: TLS, auth, database
as for every client) and sends ``EVALSHA`` on it directly, with what the client gave
around it: the script loaded on ``NOSCRIPT``, and a connection failure retried as every
qtasks Redis client retries one (:data:`RETRIES` times, :data:`BACKOFF` apart).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

from redis import Redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: How often a command whose connection broke is sent again, by every qtasks Redis client.
RETRIES = 3
#: How long before each of those: 10 ms doubling up to 1 s, jittered.
BACKOFF = ExponentialWithJitterBackoff(base=0.01, cap=1)


class BlockingScript:
    """One Lua script, sent with ``EVALSHA`` on one blocking connection to ``url``."""

    def __init__(self, url: str, text: str) -> None:
        self._client: Redis = Redis.from_url(url)
        self._text = text
        self._sha = hashlib.sha1(text.encode()).hexdigest()
        self._conn: Connection | None = None

    def __call__(self, key: str, args: Sequence[Any]) -> Any:
        failures = 0
        while True:
            conn = self._connection()
            try:
                try:
                    return self._send(conn, "EVALSHA", self._sha, 1, key, *args)
                except NoScriptError:  # a new or flushed server: load it, once
                    self._send(conn, "SCRIPT", "LOAD", self._text)
                    return self._send(conn, "EVALSHA", self._sha, 1, key, *args)
            except (RedisConnectionError, RedisTimeoutError, OSError):
                conn.disconnect()  # type: ignore[no-untyped-call]  # the next send reconnects
                failures += 1
                if failures > RETRIES:
                    raise
                time.sleep(BACKOFF.compute(failures))

    @staticmethod
    def _send(conn: Connection, *command: Any) -> Any:
        conn.send_command(*command)  # type: ignore[no-untyped-call]
        return conn.read_response()

    def _connection(self) -> Connection:
        if self._conn is None:  # taken from the pool once, kept until close
            self._conn = self._client.connection_pool.get_connection()
        return self._conn

    def close(self) -> None:
        self._conn = None
        self._client.connection_pool.disconnect()
        self._client.close()
