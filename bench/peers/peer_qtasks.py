"""qtasks (this repository, its Redis transport): sync app, sync ``def`` tasks on the
worker's thread pool (the default executor), default concurrency (10) and prefetch."""

from __future__ import annotations

import os

from _qtasks import meta

META = meta(
    "peer_qtasks",
    "qtasks (this repo)",
    "defaults: concurrency 10 (thread pool), prefetch 100, results stored (TTL 1 day)",
)

if os.environ.get("BENCH_RUNTIME"):
    from _qtasks import sync_peer

    app, enqueue, prefill = sync_peer()
