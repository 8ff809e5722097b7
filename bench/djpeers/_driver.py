"""Client side of one Django backend, run INSIDE that backend's venv by
``bench/bench_django_peers.py``: ``python _driver.py PEER ACTION ...``.

The environment names the settings (``DJANGO_SETTINGS_MODULE``) and the Redis database
(``BENCH_REDIS_URL``). Every action prints one JSON line on stdout, last.

``reset``                      delete the backend's queued tasks and results, and ``bench:io``
``enqueue N IDS [KIND]``       one untimed warm-up ``KIND.enqueue(-1)``, then N timed
                               ``KIND.enqueue(i)`` (KIND: ``noop``, the default, or ``io``):
                               ``{"seconds", "queued"}``; every id (warm-up included) is
                               written to the file IDS
``watch EXPECTED TIMEOUT POLL`` one poll of the backend's finished count (connects), print
                               ``ready``, then poll every POLL s until EXPECTED tasks finished
                               or TIMEOUT s passed: first and last sighting of progress
                               (time.time()) and ``polls``, the polls after ``ready``
``pollcost K``                 one poll, print ``ready``; then for every line read on stdin, K
                               polls back to back and print ``done`` (the caller reads the
                               Redis server's CPU around them)
``verify IDS``                 ``get_result(id)`` for every id in IDS: counts by status
``latency M GAP [TASK]``       M ``TASK.enqueue(i)`` (``lat``, the default, or ``lat_io``),
                               GAP s apart: the time.time() before each

A peer module that does not go through Django's backend (``peer_dj_plain``: a plain qtasks
app) defines hooks used instead of ``benchtasks.tasks`` and ``default_task_backend``:
``enqueue_call(kind)`` (a callable ``i -> object with .id``, for ``enqueue``),
``result_status(id)`` (a ``TaskResultStatus`` name, for ``verify``) and
``latency_call(task)`` (a callable ``i -> anything``, for ``latency``). ``django.setup()``
runs for every peer (its settings name a backend that ``benchtasks.tasks`` validates
against); the hooks' calls do not touch Django.
"""

from __future__ import annotations

import collections
import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ["BENCH_RUNTIME"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import django

django.setup()

from benchtasks import tasks  # noqa: E402
from django.tasks import default_task_backend  # noqa: E402


def enqueue_call(peer: Any, kind: str) -> Callable[[int], Any]:
    """Django's ``KIND.enqueue``, or the peer's ``enqueue_call(kind)`` hook."""
    hook = getattr(peer, "enqueue_call", None)
    return hook(kind) if hook is not None else getattr(tasks, kind).enqueue


def enqueue(peer: Any, n: int, ids_path: Path, kind: str) -> dict[str, Any]:
    call = enqueue_call(peer, kind)
    ids = [call(-1).id]  # warm-up: connections, scripts, validation
    append = ids.append
    t0 = time.perf_counter()
    for i in range(n):
        append(call(i).id)
    seconds = time.perf_counter() - t0
    ids_path.write_text("\n".join(map(str, ids)))
    return {"seconds": seconds, "n": n, "ids": len(ids)}


def watch(peer: Any, expected: int, timeout: float, poll: float) -> dict[str, Any]:
    peer.done_count()  # connects: the polls counted from here on are alike
    print("ready", flush=True)
    deadline = time.monotonic() + timeout
    first: tuple[float, int] | None = None
    ok = failed = polls = 0
    while True:
        ok, failed = peer.done_count()
        polls += 1
        now = time.time()
        done = ok + failed
        if done > 0 and first is None:
            first = (now, done)
        if done >= expected or time.monotonic() > deadline:
            break
        time.sleep(poll)
    return {
        "first": first,
        "last": (now, ok + failed),
        "ok": ok,
        "failed": failed,
        "timed_out": ok + failed < expected,
        "polls": polls,
    }


def pollcost(peer: Any, k: int) -> dict[str, Any]:
    peer.done_count()
    print("ready", flush=True)
    rounds = 0
    for _ in sys.stdin:
        for _ in range(k):
            peer.done_count()
        rounds += 1
        print("done", flush=True)
    return {"rounds": rounds}


def django_status(result_id: str) -> str:
    return default_task_backend.get_result(result_id).status.name


def verify(peer: Any, ids_path: Path) -> dict[str, Any]:
    status_of = getattr(peer, "result_status", django_status)
    statuses: collections.Counter[str] = collections.Counter()
    for result_id in ids_path.read_text().split():
        try:
            statuses[status_of(result_id)] += 1
        except Exception as exc:  # TaskResultDoesNotExist: not finished (threadmill) / gone
            statuses[type(exc).__name__] += 1
    return dict(statuses)


def latency(peer: Any, m: int, gap: float, task: str) -> dict[str, Any]:
    hook = getattr(peer, "latency_call", None)
    call = hook(task) if hook is not None else getattr(tasks, task).enqueue
    sent = []
    for i in range(m):
        t = time.time()
        call(i)
        sent.append(t)
        time.sleep(gap)
    return {"sent": sent}


def main() -> None:
    name, action, *rest = sys.argv[1:]
    peer = importlib.import_module(f"peer_{name}")
    out: dict[str, Any]
    if action == "reset":
        peer.reset()
        tasks.bench_redis().delete(tasks.IO_KEY)
        out = {"reset": True}
    elif action == "enqueue":
        out = enqueue(peer, int(rest[0]), Path(rest[1]), rest[2] if len(rest) > 2 else "noop")
        out["queued"] = peer.queued()
    elif action == "watch":
        out = watch(peer, int(rest[0]), float(rest[1]), float(rest[2]))
    elif action == "pollcost":
        out = pollcost(peer, int(rest[0]))
    elif action == "verify":
        out = verify(peer, Path(rest[0]))
    elif action == "latency":
        out = latency(peer, int(rest[0]), float(rest[1]), rest[2] if len(rest) > 2 else "lat")
    else:
        raise SystemExit(f"unknown action {action}")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
