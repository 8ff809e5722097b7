"""The dashboard served for real: uvicorn on a free loopback port, in a thread of the
test process, over an app on one transport (the ``broker_url`` fixture)."""

from __future__ import annotations

import asyncio
import http.cookiejar
import math
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn

from qtasks import QueueTasks
from qtasks.dashboard import asgi
from qtasks.schedule.scheduler import Scheduler
from qtasks.schedule.spec import Schedule

#: Released by the tests to let the ``hold`` task finish.
gate = threading.Event()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str


@dataclass
class Served:
    """A running dashboard, and a cookie-keeping client for it."""

    url: str
    server: uvicorn.Server
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def request(
        self,
        path: str,
        *,
        data: dict[str, Any] | list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        follow: bool = True,
    ) -> Reply:
        handlers: list[Any] = [urllib.request.HTTPCookieProcessor(self.jar)]
        if not follow:
            handlers.append(_NoRedirect())
        opener = urllib.request.build_opener(*handlers)
        body = None if data is None else urllib.parse.urlencode(data, doseq=True).encode()
        request = urllib.request.Request(self.url + path, data=body, headers=headers or {})
        try:
            with opener.open(request, timeout=30) as response:
                return Reply(response.status, dict(response.headers), response.read().decode())
        except urllib.error.HTTPError as error:
            return Reply(error.code, dict(error.headers), error.read().decode())

    def csrf(self) -> str:
        """The CSRF cookie, fetched with a page first if not held yet."""
        for cookie in self.jar:
            if cookie.name == "qtasks_csrf":
                return str(cookie.value)
        self.request("/")
        return self.csrf()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def serve(app: Any, **options: Any) -> Iterator[Served]:
    port = free_port()
    config = uvicorn.Config(
        asgi(app, **options), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard did not start")
        time.sleep(0.02)
    try:
        yield Served(url=f"http://127.0.0.1:{port}", server=server)
    finally:
        server.should_exit = True
        thread.join(20)


HOUR = 3600.0


class OneTick:
    """A clock a second before ``tick``: the scheduler sleeps to it, sends it, stops."""

    def __init__(self, tick: float) -> None:
        self.now = tick - 1
        self.moved = False

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float, stop: asyncio.Event) -> None:
        await asyncio.sleep(0)
        if self.moved:
            stop.set()
        else:
            self.now += max(seconds, 0.0)
            self.moved = True


def fire_once(app: QueueTasks, schedule: Schedule) -> float:
    """Send the tick of ``schedule`` (``every=HOUR``) that began this hour, as a running
    scheduler would have at that time; returns the tick."""
    tick = math.floor(time.time() / HOUR) * HOUR
    scheduler = Scheduler(app, [schedule], clock=OneTick(tick))
    asyncio.run(scheduler.run())
    assert scheduler.sent == 1
    return tick


def make_app(broker_url: str) -> QueueTasks:
    app = QueueTasks(name="shop", broker_url=broker_url)

    @app.task
    def add(a: int, b: int) -> int:
        return a + b

    @app.task
    def fail(text: str) -> None:
        raise ValueError(text)

    @app.task
    def hold() -> str:
        gate.wait(60)
        return "held"

    @app.task
    async def sleepy(seconds: float) -> str:
        import asyncio

        await asyncio.sleep(seconds)
        return "slept"

    return app


@pytest.fixture
def app(broker_url: str) -> Iterator[QueueTasks]:
    gate.clear()
    app = make_app(broker_url)
    yield app
    gate.set()
    app.close()


@pytest.fixture
def dashboard(app: QueueTasks) -> Iterator[Served]:
    yield from serve(app)
