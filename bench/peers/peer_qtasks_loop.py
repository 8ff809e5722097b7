"""qtasks (this repository, its Redis transport): sync app, sync ``def`` tasks with
``executor="loop"`` (run on the worker's event loop, no thread hand-off: meant for tiny,
non-blocking tasks; the io task's INCR blocks the loop for its round trip)."""

from __future__ import annotations

import os

from _qtasks import meta

META = meta(
    "peer_qtasks_loop",
    "qtasks, executor=loop",
    'sync def tasks, executor="loop"; concurrency 10, prefetch 100, results stored',
)

if os.environ.get("BENCH_RUNTIME"):
    from _qtasks import sync_peer

    app, enqueue, prefill = sync_peer(executor="loop")
