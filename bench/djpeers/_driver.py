"""Client side of one Django backend, run INSIDE that backend's venv by
``bench/bench_django_peers.py``: ``python _driver.py PEER ACTION ...``.

The environment names the settings (``DJANGO_SETTINGS_MODULE``) and the Redis database
(``BENCH_REDIS_URL``). Every action prints one JSON line on stdout, last.

``reset``                      delete the backend's queued tasks and results
``enqueue N IDS``              one untimed warm-up ``noop.enqueue(-1)``, then N timed
                               ``noop.enqueue(i)``: ``{"seconds", "queued"}``; every id
                               (warm-up included) is written to the file IDS
``watch EXPECTED TIMEOUT POLL`` print ``ready``, then poll the backend's finished count
                               every POLL s until EXPECTED tasks finished or TIMEOUT s
                               passed: first and last sighting of progress (time.time())
``verify IDS``                 ``get_result(id)`` for every id in IDS: counts by status
``latency M GAP``              M ``lat.enqueue(i)``, GAP s apart: the time.time() before each
"""

from __future__ import annotations

import collections
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ["BENCH_RUNTIME"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import django

django.setup()

from benchtasks.tasks import lat, noop  # noqa: E402
from django.tasks import default_task_backend  # noqa: E402


def enqueue(n: int, ids_path: Path) -> dict[str, Any]:
    ids = [noop.enqueue(-1).id]  # warm-up: connections, scripts, validation
    append, call = ids.append, noop.enqueue
    t0 = time.perf_counter()
    for i in range(n):
        append(call(i).id)
    seconds = time.perf_counter() - t0
    ids_path.write_text("\n".join(map(str, ids)))
    return {"seconds": seconds, "n": n, "ids": len(ids)}


def watch(peer: Any, expected: int, timeout: float, poll: float) -> dict[str, Any]:
    print("ready", flush=True)
    deadline = time.monotonic() + timeout
    first: tuple[float, int] | None = None
    ok = failed = 0
    while True:
        ok, failed = peer.done_count()
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
    }


def verify(ids_path: Path) -> dict[str, Any]:
    statuses: collections.Counter[str] = collections.Counter()
    for result_id in ids_path.read_text().split():
        try:
            statuses[default_task_backend.get_result(result_id).status.name] += 1
        except Exception as exc:  # TaskResultDoesNotExist: not finished (threadmill) / gone
            statuses[type(exc).__name__] += 1
    return dict(statuses)


def latency(m: int, gap: float) -> dict[str, Any]:
    sent = []
    for i in range(m):
        t = time.time()
        lat.enqueue(i)
        sent.append(t)
        time.sleep(gap)
    return {"sent": sent}


def main() -> None:
    name, action, *rest = sys.argv[1:]
    peer = importlib.import_module(f"peer_{name}")
    out: dict[str, Any]
    if action == "reset":
        peer.reset()
        out = {"reset": True}
    elif action == "enqueue":
        out = enqueue(int(rest[0]), Path(rest[1]))
        out["queued"] = peer.queued()
    elif action == "watch":
        out = watch(peer, int(rest[0]), float(rest[1]), float(rest[2]))
    elif action == "verify":
        out = verify(Path(rest[0]))
    elif action == "latency":
        out = latency(int(rest[0]), float(rest[1]))
    else:
        raise SystemExit(f"unknown action {action}")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
