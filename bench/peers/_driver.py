"""Client side of one peer, run INSIDE that peer's venv: ``python _driver.py PEER ACTION ...``.

Actions (results printed as one JSON line on stdout); TASK is ``noop``, ``io`` (one Redis
INCR, see ``_common.incr_io``), or their latency variants ``lat``, ``lat_io``:

``enqueue N [TASK]``   N single enqueue calls of TASK (default noop), timed: ``{"seconds": s}``.
``prefill N [TASK]``   N TASK tasks enqueued as fast as the peer allows (bulk where it has it).
``latency M GAP [TASK]``  M latency tasks (default lat), one at a time, GAP seconds apart;
                each carries its index; ``{"sent": [t_enqueue, ...]}`` (time.time() just
                before the call).

The peer module (``peer_<name>.py``) provides ``enqueue(task, i)`` and optionally
``prefill(n, task)``, ``setup()`` / ``teardown()``; async peers provide coroutines and set
``ASYNC = True``. Older peers that only know the no-op task provide ``enqueue_noop(i)``,
``enqueue_lat(i)`` and ``prefill(n)`` instead.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

os.environ.setdefault("BENCH_RUNTIME", "1")


async def _maybe(value: Any) -> Any:
    if asyncio.iscoroutine(value):
        return await value
    return value


def sender(peer: ModuleType, task: str) -> Callable[[int], Any]:
    """``f(i)`` enqueueing one ``task`` call."""
    if hasattr(peer, "enqueue"):
        return functools.partial(peer.enqueue, task)
    fn = getattr(peer, f"enqueue_{task}", None)
    if fn is None:
        raise SystemExit(f"peer {peer.__name__} has no task {task!r}")
    return fn  # type: ignore[no-any-return]


def bulk(peer: ModuleType, task: str) -> Callable[[int], Any] | None:
    """``f(n)`` enqueueing ``n`` calls in bulk, or None when the peer has no bulk API."""
    prefill = getattr(peer, "prefill", None)
    if prefill is None:
        return None
    if hasattr(peer, "enqueue"):
        return functools.partial(prefill, task=task)  # type: ignore[no-any-return]
    return prefill if task == "noop" else None  # type: ignore[no-any-return]


async def _acalls(fn: Callable[[int], Any], n: int) -> None:
    for i in range(n):
        await fn(i)


def _calls(fn: Callable[[int], Any], n: int) -> None:
    for i in range(n):
        fn(i)


async def amain(peer: ModuleType, action: str, argv: list[str]) -> dict[str, Any]:
    """Async peers' actions, and every peer's ``latency``."""
    await _maybe(getattr(peer, "setup", lambda: None)())
    try:
        if action == "latency":
            m, gap = int(argv[0]), float(argv[1])
            fn = sender(peer, argv[2] if len(argv) > 2 else "lat")
            sent = []
            for i in range(m):
                t = time.time()
                await _maybe(fn(i))
                sent.append(t)
                await asyncio.sleep(gap)
            return {"sent": sent}
        n, task = _n_task(argv)
        if action == "enqueue":
            fn = sender(peer, task)
            await fn(-1)  # warm-up: connection, scripts
            t0 = time.perf_counter()
            await _acalls(fn, n)
            return {"seconds": time.perf_counter() - t0, "n": n}
        if action == "prefill":
            t0 = time.perf_counter()
            many = bulk(peer, task)
            await (_acalls(sender(peer, task), n) if many is None else many(n))
            return {"seconds": time.perf_counter() - t0, "n": n}
        raise SystemExit(f"unknown action {action}")
    finally:
        await _maybe(getattr(peer, "teardown", lambda: None)())


def _n_task(argv: list[str]) -> tuple[int, str]:
    return int(argv[0]), argv[1] if len(argv) > 1 else "noop"


def _sync(peer: ModuleType, action: str, argv: list[str]) -> dict[str, Any]:
    """Sync peers' ``enqueue`` and ``prefill``, from a plain loop without an event loop."""
    getattr(peer, "setup", lambda: None)()
    try:
        n, task = _n_task(argv)
        if action == "enqueue":
            fn = sender(peer, task)
            fn(-1)
            t0 = time.perf_counter()
            _calls(fn, n)
            return {"seconds": time.perf_counter() - t0, "n": n}
        if action == "prefill":
            t0 = time.perf_counter()
            many = bulk(peer, task)
            if many is None:
                _calls(sender(peer, task), n)
            else:
                many(n)
            return {"seconds": time.perf_counter() - t0, "n": n}
        raise SystemExit(f"unknown action {action}")
    finally:
        getattr(peer, "teardown", lambda: None)()


def main() -> None:
    name, action, *rest = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    peer = importlib.import_module(f"peer_{name}")
    if getattr(peer, "ASYNC", False) or action == "latency":
        out = asyncio.run(amain(peer, action, rest))
    else:
        out = _sync(peer, action, rest)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
