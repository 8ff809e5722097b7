"""A process that used an app exits at once and silently, on every transport: the sync
facade closes its brokers and loops at interpreter exit, a forked child leaves its
parent's connections alone, and an async app never closed is closed with its loop.

Each case is a real interpreter run (``python -c``) whose stderr must be empty, with
``ResourceWarning`` shown: an unclosed connection or socket would print one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

#: The most a script may take from its last line to the end of its process.
EXIT_LAG = 1.5

PRELUDE = """
import asyncio, os, sys, threading, time
URL, NAME = sys.argv[1], sys.argv[2]

def done():  # the script's last statement: when it finished, for the exit lag
    print("end", time.time(), flush=True)
"""


def run(script: str, url: str, *, timeout: float = 60.0) -> tuple[str, float]:
    """Run ``script`` in a fresh interpreter; its stdout, and how long it took to exit
    after printing ``end <time>``. Fails on any stderr output or exit status but 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QTASKS_", "PYTHON"))}
    command = [sys.executable, "-W", "always::ResourceWarning", "-c", PRELUDE + script]
    name = f"exit-{uuid.uuid4().hex[:12]}"
    finished = subprocess.run(
        [*command, url, name], capture_output=True, text=True, timeout=timeout, env=env
    )
    exited = time.time()
    assert finished.stderr == "", finished.stderr
    assert finished.returncode == 0, finished.stdout
    ends = [line for line in finished.stdout.splitlines() if line.startswith("end ")]
    assert ends, finished.stdout
    return finished.stdout, exited - float(ends[-1].split()[1])


SYNC = """
from qtasks import QueueTasks
app = QueueTasks(name=NAME, broker_url=URL)
record = app.add_task("nobody-runs-this", 1)
assert app.get(record.uuid).status == "new"
assert app.count() == {"new": 1}
assert app.wait_result(record.uuid, timeout=0.2) is None  # a result wait (LISTEN, pub/sub)

def in_a_thread():  # a thread of its own: a loop and a broker of its own
    app.add_task("nobody-runs-this", 2)

thread = threading.Thread(target=in_a_thread)
thread.start()
thread.join()

async def from_async_code():  # the sync API inside a running loop: on a helper thread
    return app.count()

assert asyncio.run(from_async_code()) == {"new": 2}
app.flush_all()
done()
"""


def test_a_sync_client_exits_at_once_and_silently(broker_url: str) -> None:
    _, lag = run(SYNC, broker_url)
    assert lag < EXIT_LAG


FORK = """
from qtasks import QueueTasks
app = QueueTasks(name=NAME, broker_url=URL)
app.add_task("nobody-runs-this", 1)
parents = list(app._client._brokers.values())
pid = os.fork()
if pid == 0:  # the child: a broker of its own on first use, and a normal exit
    record = app.add_task("nobody-runs-this", 2)
    assert app.get(record.uuid).status == "new"
    assert app.count()["new"] >= 2
    mine = list(app._client._brokers.values())
    assert mine and not any(b is p for b in mine for p in parents)
    sys.exit(0)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0
start = time.monotonic()
record = app.add_task("nobody-runs-this", 3)  # the parent's connections still work
assert app.get(record.uuid).status == "new"
assert app.count()["new"] >= 2  # (a memory:// child's task stayed in the child)
print("after the fork", time.monotonic() - start, flush=True)
assert list(app._client._brokers.values()) == parents  # the same broker as before
app.flush_all()
done()
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_and_its_parent_both_exit_silently(broker_url: str) -> None:
    out, lag = run(FORK, broker_url)
    after = float(out.split("after the fork ", 1)[1].split()[0])
    assert after < 1.0  # the child's exit left the parent's loop hearing its sockets
    assert lag < EXIT_LAG


CHILD_CLOSES = """
import qtasks.client
from qtasks import QueueTasks
app = QueueTasks(name=NAME, broker_url=URL)
app.add_task("nobody-runs-this", 1)
pid = os.fork()
if pid == 0:  # what closing its copy of the loop and sockets does to the kernel's state
    for loop in {item[0] for item in qtasks.client._INHERITED}:
        selector = loop._selector
        for key in list(selector.get_map().values()):
            selector.unregister(key.fileobj)
        loop.close()
    os._exit(0)
os.waitpid(pid, 0)
start = time.monotonic()
record = app.add_task("nobody-runs-this", 2)
assert app.get(record.uuid).status == "new"
print("after the fork", time.monotonic() - start, flush=True)
app.flush_all()
done()
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_child_closing_its_inherited_loop_does_not_deafen_the_parent(broker_url: str) -> None:
    """Parent and child share each epoll instance: had the child's copy of a loop not got
    one of its own, closing it would unregister the parent's sockets (a 5 s stall)."""
    out, _ = run(CHILD_CLOSES, broker_url)
    assert float(out.split("after the fork ", 1)[1].split()[0]) < 1.0


ASYNC = """
import qtasks.asyncio
app = qtasks.asyncio.QueueTasks(name=NAME, broker_url=URL)

async def main():
    record = await app.add_task("nobody-runs-this", 1)
    assert (await app.get(record.uuid)).status == "new"
    assert await app.count() == {"new": 1}
    assert await app.wait_result(record.uuid, timeout=0.2) is None
    await app.flush_all()
    # and never app.close()

asyncio.run(main())
assert not app._client._brokers  # closed when asyncio.run shut the loop down
asyncio.run(main())  # a second loop: a second broker, closed in turn
assert not app._client._brokers
done()
"""


def test_an_async_app_never_closed_is_closed_with_its_loop(broker_url: str) -> None:
    _, lag = run(ASYNC, broker_url)
    assert lag < EXIT_LAG


HANGS = """
import qtasks.client
from qtasks import QueueTasks
from qtasks.brokers.memory import MemoryBroker

class Stuck(MemoryBroker):
    async def close(self):  # a broker whose server never answers the goodbye
        await asyncio.sleep(3600)

class Failing(MemoryBroker):
    async def close(self):
        raise OSError("connection reset")

stuck = QueueTasks(name=NAME, broker=lambda: Stuck(NAME))
failing = QueueTasks(name=NAME + "-f", broker=lambda: Failing(NAME))
stuck.add_task("nobody-runs-this")
failing.add_task("nobody-runs-this")
print("bound", qtasks.client.CLOSE_SECONDS, flush=True)
done()
"""


def test_exit_is_bounded_and_quiet_when_a_broker_hangs_or_fails() -> None:
    out, lag = run(HANGS, "memory://unused")
    bound = float(out.split("bound ", 1)[1].split()[0])
    assert bound - 0.5 < lag < bound + EXIT_LAG  # waited for it, up to the bound, no more
