"""What instrumenting an app costs: ``qtasks.tracing.instrument`` without an
OpenTelemetry SDK (the API's no-op spans) and ``qtasks.metrics.instrument`` (Prometheus).
Enqueue and drain of no-op tasks on the memory transport, plain and instrumented apps
interleaved, medians printed in microseconds per task.

    .venv/bin/python bench/bench_observability.py --n 20000 --runs 6
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

from qtasks import QueueTasks, metrics, tracing
from qtasks.testing import drain

KINDS = ("plain", "tracing", "metrics")

_names = itertools.count()


def once(kind: str, n: int) -> tuple[float, float]:
    tag = next(_names)
    app = QueueTasks(name=f"bench{tag}", broker_url=f"memory://bench-observability-{tag}")
    if kind == "tracing":
        tracing.instrument(app)
    elif kind == "metrics":
        metrics.instrument(app)

    @app.task
    async def noop() -> None:
        return None

    start = time.perf_counter()
    app.add_tasks([noop() for _ in range(n)])
    sent = time.perf_counter()
    drain(app)
    done = time.perf_counter()
    return (sent - start) / n * 1e6, (done - sent) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000, help="tasks per run")
    parser.add_argument("--runs", type=int, default=6, help="runs of each kind, interleaved")
    options = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}
    for _ in range(options.runs):
        for kind in KINDS:
            results[kind].append(once(kind, options.n))
    for kind, runs in results.items():
        enqueue = statistics.median(r[0] for r in runs)
        run = statistics.median(r[1] for r in runs)
        print(f"{kind:>8}: enqueue {enqueue:6.2f} µs/task, drain {run:6.2f} µs/task")


if __name__ == "__main__":
    main()
