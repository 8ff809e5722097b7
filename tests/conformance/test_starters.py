"""``app.run_forever(starter=...)`` and the ``starting`` / ``stopping`` events: the
starter runs the app's worker, on every transport, in a thread or another process;
``run_forever(num_workers=...)`` keeps working; QTasks' own starter examples run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import qtasks.asyncio
from qtasks import QueueTasks
from qtasks.core.errors import ConfigurationError
from qtasks.starters import AsyncStarter, BaseStarter, SyncStarter
from qtasks.worker import Worker
from tests.conftest import REDIS_URL

ORDER = [
    "starting",
    "worker_running",
    "task_running",
    "task_success",
    "worker_stopping",
    "stopping",
]


class Events:
    """Handlers for the app-lifetime, worker and task events, noting name and arguments."""

    def __init__(self, app: Any) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.running = threading.Event()
        for name in ORDER:
            getattr(app.events.on, name)(self._handler(name))

    def _handler(self, name: str) -> Callable[..., Any]:
        async def handler(**kwargs: Any) -> None:
            self.calls.append((name, kwargs))
            if name == "worker_running":
                self.running.set()

        return handler

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def of(self, name: str) -> dict[str, Any]:
        (kwargs,) = [kw for called, kw in self.calls if called == name]
        return kwargs


@pytest.fixture
def in_thread() -> Iterator[Callable[[Callable[[], None]], threading.Thread]]:
    threads: list[threading.Thread] = []

    def start(target: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        threads.append(thread)
        return thread

    yield start
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive(), "run_forever did not return"


@pytest.mark.parametrize("kind", [SyncStarter, AsyncStarter])
def test_run_forever_with_a_starter_runs_the_apps_worker(
    broker_url: str,
    kind: type[BaseStarter],
    in_thread: Callable[[Callable[[], None]], threading.Thread],
) -> None:
    app = QueueTasks("starters", broker_url=broker_url)
    events = Events(app)

    @app.task
    def add(a: int, b: int) -> int:
        return a + b

    starter = kind(name="starters")
    thread = in_thread(lambda: app.run_forever(starter=starter, num_workers=3))
    try:
        assert events.running.wait(30)
        record = add.add_task(2, 3, timeout=30)
        assert record is not None and record.returning == 5
    finally:
        stopped = starter.stop()
        if asyncio.iscoroutine(stopped):
            asyncio.run(stopped)
        thread.join(30)
        app.close()
    assert events.names() == ORDER
    starting, stopping = events.of("starting"), events.of("stopping")
    assert set(starting) == set(stopping) == {"starter", "worker", "broker"}
    assert starting["starter"] is starter and app.starter is starter
    worker = starting["worker"]
    assert isinstance(worker, Worker) and worker is events.of("worker_running")["worker"]
    assert starting["broker"] is worker.broker and stopping["worker"] is worker
    assert worker.options.concurrency == 3


async def _then_close(call: Any, app: qtasks.asyncio.QueueTasks) -> None:
    """Await ``call``, then close the connection it opened on this loop: a loop ending with
    a PostgreSQL pool still open can wait forever on its tasks (Python 3.11 ``wait_for``
    inside the driver may swallow their cancellation)."""
    await call
    await app.close()


def test_run_forever_without_a_starter_and_num_workers_as_today(broker_url: str) -> None:
    sync_app = QueueTasks("plain", broker_url=broker_url)
    async_app = qtasks.asyncio.QueueTasks("plain-async", broker_url=broker_url)
    try:
        for app, default in ((sync_app, SyncStarter), (async_app, AsyncStarter)):
            events = Events(app)
            added = app.add_task("nothing")  # an unknown task: the worker records it failed
            if asyncio.iscoroutine(added):
                asyncio.run(_then_close(added, async_app))
            app.run_forever(num_workers=2, burst=True)
            assert type(app.starter) is default
            assert events.names() == ["starting", "worker_running", "worker_stopping", "stopping"]
            assert events.of("starting")["worker"].options.concurrency == 2
        sync_app.run_forever(4, burst=True)  # today's positional num_workers
        assert sync_app.starter.worker is None  # a default starter: the app's own worker
    finally:
        sync_app.close()
        asyncio.run(async_app.close())


def test_async_run_forever_takes_a_loop_and_serve_fires_the_events() -> None:
    app = qtasks.asyncio.QueueTasks("loop", broker_url="memory://starters-loop")
    events = Events(app)
    loop = asyncio.new_event_loop()
    try:
        app.run_forever(loop, burst=True)
        assert events.names()[0] == "starting" and events.names()[-1] == "stopping"
        events.calls.clear()
        loop.run_until_complete(app.serve(burst=True))
        assert events.names() == ["starting", "worker_running", "worker_stopping", "stopping"]
    finally:
        loop.close()


def test_a_starter_for_another_app_is_refused() -> None:
    app = QueueTasks("mine", broker_url="memory://starters-name")
    with pytest.raises(ConfigurationError, match="name the starter as the app"):
        app.run_forever(starter=SyncStarter(name="theirs"), burst=True)
    with pytest.raises(TypeError, match="starter= takes"):
        app.run_forever(starter=object(), burst=True)


class TriggerLog:
    """A plugin noting the triggers it hears."""

    def __init__(self) -> None:
        self.triggers: list[str] = []
        self.started = self.stopped = 0

    def trigger(self, name: str, **kwargs: Any) -> None:
        self.triggers.append(name)
        assert isinstance(kwargs["starter"], BaseStarter)

    def start(self) -> None:
        self.started += 1

    def stop(self) -> None:
        self.stopped += 1


def test_starter_triggers_reach_app_and_starter_plugins() -> None:
    app = QueueTasks("triggers", broker_url="memory://starters-triggers")
    on_app, on_starter = TriggerLog(), TriggerLog()
    app.add_plugin(on_app, trigger_names=["starter_start", "starter_stop"])
    starter = SyncStarter()
    starter.add_plugin(on_starter)
    app.run_forever(starter=starter, burst=True)
    assert on_app.triggers == on_starter.triggers == ["starter_start", "starter_stop"]
    assert starter.plugins == {"Globals": [on_starter]}
    assert (on_starter.started, on_starter.stopped) == (1, 1)


# in another process ------------------------------------------------------------------------

CHILD = """
import json, os, sys
from qtasks import QueueTasks

app = QueueTasks("child", broker_url=sys.argv[1])
out = open(sys.argv[2], "a")

def noting(name):
    def handler(**kwargs):
        out.write(json.dumps([name, os.getpid()]) + "\\n")
        out.flush()
    return handler

for name in {order!r}:
    getattr(app.events.on, name)()(noting(name))

@app.task
def add(a, b):
    return a + b

if __name__ == "__main__":
    app.run_forever(num_workers=2, burst=True)
"""


@pytest.mark.parametrize("broker_url", ["sqlite", "redis", "postgres"], indirect=True)
def test_events_fire_in_the_worker_process(broker_url: str, tmp_path: Path) -> None:
    (tmp_path / "child.py").write_text(CHILD.format(order=ORDER))
    log = tmp_path / "events.jsonl"
    app = QueueTasks("child", broker_url=broker_url)
    try:
        record = app.add_task("add", 1, 2)
        child = subprocess.run(
            [sys.executable, "child.py", broker_url, str(log)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert child.returncode == 0, child.stderr
        final = app.get(record.uuid)  # type: ignore[union-attr]
        assert final is not None and final.returning == 3
    finally:
        app.close()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [name for name, _ in lines] == ORDER
    pids = {pid for _, pid in lines}
    assert len(pids) == 1 and os.getpid() not in pids  # all in the worker's process


# QTasks' own starter examples (docs/en/components.md), run as they are --------------------

MIRROR = Path("/work/.mirror/txello+qtasks/repo")


def components_examples() -> list[str]:
    """The Python blocks of QTasks' components page (its text is not ours to copy)."""
    if not MIRROR.exists():
        pytest.skip("QTasks' repository is not mirrored here")
    page = subprocess.run(
        ["git", "-C", str(MIRROR), "show", "HEAD:docs/en/components.md"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [block.split("```")[0] for block in page.split("```py\n")[1:]]


def serve_example(tmp_path: Path, source: str, app_name: str, url: str, call: str) -> Any:
    """Run ``source`` as ``__main__`` (it calls ``run_forever``), enqueue ``call`` through
    an app of the same name and URL, wait for its result, then SIGTERM the example."""
    (tmp_path / "example.py").write_text(source)
    log = (tmp_path / "example.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "example.py"], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
    )
    client = QueueTasks(app_name, broker_url=url)
    try:
        record = client._sync(client._add_task(call, (0,), {}, priority=None, timeout=30))
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, (tmp_path / "example.log").read_text()
        return record
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        client.close()


def test_qtasks_starter_example_runs(tmp_path: Path) -> None:
    (source,) = [
        b for b in components_examples() if "AsyncStarter(name=" in b and "worker=" not in b
    ]
    # no broker URL in it: the default, an SQLite file in the working directory
    url = f"sqlite:///{tmp_path / 'qtasks.sqlite3'}"
    record = serve_example(tmp_path, source, "QueueTasks", url, "no_such_task")
    assert record is not None and record.status == "error"  # the worker ran and answered


def test_qtasks_complete_assembly_example_runs(tmp_path: Path) -> None:
    (source,) = [b for b in components_examples() if "AsyncRedisGlobalConfig(\n" in b]
    source = source.replace("redis://localhost:6379/2", REDIS_URL)
    record = serve_example(tmp_path, source, "QueueTasks", REDIS_URL, "test")
    assert record is not None and record.returning == "User 0 recorded"


def test_qtasks_events_decorator_spelling() -> None:
    """``@app.events.on.worker_running``, as QTasks' schemas page writes it (bare)."""
    app = QueueTasks("spelling", broker_url="memory://starters-spelling")
    ran: list[int] = []
    source = textwrap.dedent(
        """
        @app.events.on.worker_running
        def announce(worker, number):
            ran.append(number)
        """
    )
    exec(source, {"app": app, "ran": ran})
    app.run_forever(burst=True)
    assert ran == [0]
