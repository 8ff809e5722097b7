"""Client side of one peer, run INSIDE that peer's venv: ``python _driver.py PEER ACTION ...``.

Actions (results printed as one JSON line on stdout):

``enqueue N``   N single enqueue calls of the no-op task, timed: ``{"seconds": s}``.
``prefill N``   N no-op tasks enqueued as fast as the peer allows (bulk where it has it).
``latency M GAP``  M latency tasks, one at a time, GAP seconds apart; each carries its
                index; ``{"sent": [t_enqueue, ...]}`` (time.time() just before the call).

The peer module (``peer_<name>.py``) provides ``enqueue_noop(i)``, ``enqueue_lat(i)``
and optionally ``prefill(n)``, ``setup()`` / ``teardown()``; async peers provide
coroutines and set ``ASYNC = True``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import time

os.environ.setdefault("BENCH_RUNTIME", "1")


async def _maybe(value):
    if asyncio.iscoroutine(value):
        return await value
    return value


async def amain(peer, action: str, argv: list[str]) -> dict:
    setup = getattr(peer, "setup", None)
    if setup is not None:
        await _maybe(setup())
    try:
        is_async = getattr(peer, "ASYNC", False)
        if action == "enqueue":
            n = int(argv[0])
            fn = peer.enqueue_noop
            await _maybe(fn(-1))  # warm-up: connection, scripts
            t0 = time.perf_counter()
            if is_async:
                for i in range(n):
                    await fn(i)
            else:
                for i in range(n):
                    fn(i)
            return {"seconds": time.perf_counter() - t0, "n": n}
        if action == "prefill":
            n = int(argv[0])
            t0 = time.perf_counter()
            if hasattr(peer, "prefill"):
                await _maybe(peer.prefill(n))
            else:
                for i in range(n):
                    await _maybe(peer.enqueue_noop(i))
            return {"seconds": time.perf_counter() - t0, "n": n}
        if action == "latency":
            m, gap = int(argv[0]), float(argv[1])
            sent = []
            for i in range(m):
                t = time.time()
                await _maybe(peer.enqueue_lat(i))
                sent.append(t)
                await asyncio.sleep(gap)
            return {"sent": sent}
        raise SystemExit(f"unknown action {action}")
    finally:
        teardown = getattr(peer, "teardown", None)
        if teardown is not None:
            await _maybe(teardown())


def main() -> None:
    name, action, *rest = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    peer = importlib.import_module(f"peer_{name}")
    if getattr(peer, "ASYNC", False):
        out = asyncio.run(amain(peer, action, rest))
    else:
        # sync peers: drive them from a plain loop without an event loop in the way
        out = (
            asyncio.run(amain(peer, action, rest))
            if action == "latency"
            else _sync(peer, action, rest)
        )
    print(json.dumps(out), flush=True)


def _sync(peer, action, argv):
    if hasattr(peer, "setup"):
        peer.setup()
    try:
        n = int(argv[0])
        if action == "enqueue":
            fn = peer.enqueue_noop
            fn(-1)
            t0 = time.perf_counter()
            for i in range(n):
                fn(i)
            return {"seconds": time.perf_counter() - t0, "n": n}
        if action == "prefill":
            t0 = time.perf_counter()
            if hasattr(peer, "prefill"):
                peer.prefill(n)
            else:
                for i in range(n):
                    peer.enqueue_noop(i)
            return {"seconds": time.perf_counter() - t0, "n": n}
        raise SystemExit(f"unknown action {action}")
    finally:
        if hasattr(peer, "teardown"):
            peer.teardown()


if __name__ == "__main__":
    main()
