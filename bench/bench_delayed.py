"""Do delayed tasks slow ready ones? Claim time and add-to-result latency with 0 to 10^6
tasks waiting for an eta an hour away (priority 0, like the ready ones), per transport.

    .venv/bin/python bench/bench_delayed.py --url sqlite:////tmp/delayed.sqlite3 \
        --url redis://127.0.0.1:6379/13 \
        --url "postgresql://postgres@127.0.0.1:5432/test?schema=bench_delayed" \
        --counts 0,10000,100000,1000000 --plot docs/img/delayed_claims.png

Put another checkout's ``src`` first on ``PYTHONPATH`` to measure it. Each URL's
namespace is emptied before and after. matplotlib (for ``--plot``) is not a qtasks
dependency: ``pip install matplotlib``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import qtasks
from qtasks import QueueTasks
from qtasks.core.envelope import Envelope
from qtasks.core.ids import new_task_id
from qtasks.testing import worker_thread

APP = "bench-delayed"


async def _fill(app: QueueTasks, count: int) -> None:
    broker = app._client.new_broker()
    await broker.connect()
    later, now = time.time() + 3600, time.time()
    for start in range(0, count, 5_000):
        batch = [
            Envelope(
                id=new_task_id(), task_name="later", queue="default", eta=later, created_at=now
            )
            for _ in range(min(5_000, count - start))
        ]
        await broker.enqueue(batch)
    await broker.close()


async def _empty_claims(app: QueueTasks, samples: int) -> list[float]:
    broker = app._client.new_broker()
    await broker.connect()
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        got = await broker.claim(["default"], 10, lease=10, worker_id="bench", wait=0)
        times.append(time.perf_counter() - started)
        assert not got, "a delayed task was claimed before its eta"
    await broker.close()
    return times


def measure(url: str, count: int, samples: int) -> dict[str, Any]:
    app = QueueTasks(APP, broker_url=url)

    @app.task
    def ping() -> int:
        return 1

    app.flush_all()
    started = time.perf_counter()
    asyncio.run(_fill(app, count))
    filled = time.perf_counter() - started
    claims = asyncio.run(_empty_claims(app, samples))
    latencies = []
    with worker_thread(app, concurrency=1):
        ping.add_task(timeout=30)  # warm
        for _ in range(samples):
            sent = time.perf_counter()
            done = ping.add_task(timeout=30)
            latencies.append(time.perf_counter() - sent)
            assert done is not None and done.returning == 1
    app.flush_all()
    app.close()
    return {
        "url": url.split("://")[0],
        "delayed": count,
        "fill_s": round(filled, 1),
        "claim_ms": round(statistics.median(claims) * 1000, 3),
        "add_to_result_ms": round(statistics.median(latencies) * 1000, 2),
    }


def plot(rows: list[dict[str, Any]], out: str, before: list[dict[str, Any]] | None = None) -> None:
    """Both figures by transport; ``before`` (another checkout's rows) dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), dpi=120)
    for series, style, suffix in ((rows, "o-", ""), (before or [], "x--", " (before)")):
        for transport in sorted({r["url"] for r in series}):
            mine = [r for r in series if r["url"] == transport]
            xs = [max(r["delayed"], 1) for r in mine]
            label = transport + suffix
            axes[0].plot(xs, [r["claim_ms"] for r in mine], style, label=label)
            axes[1].plot(xs, [r["add_to_result_ms"] for r in mine], style, label=label)
    for ax, title in zip(axes, ("empty claim, median ms", "add → result, median ms"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("delayed tasks (0 plotted at 1)")
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", action="append", default=[])
    parser.add_argument("--counts", default="0,10000,100000,1000000")
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--plot", default=None, help="write a PNG of the figures here")
    parser.add_argument("--json", default=None, help="write the figures as JSON here")
    parser.add_argument(
        "--plot-only",
        nargs="+",
        metavar="JSON",
        help="plot saved figures instead of measuring: this run's JSON, then optionally "
        "another checkout's (drawn dashed, as 'before')",
    )
    options = parser.parse_args()
    if options.plot_only:
        saved = [json.loads(Path(f).read_text()) for f in options.plot_only]
        plot(saved[0], options.plot or "delayed.png", saved[1] if len(saved) > 1 else [])
        return
    counts = [int(c) for c in options.counts.split(",")]
    print(f"machine: {platform.node()} {platform.machine()}, Python {platform.python_version()}")
    print(f"qtasks from {Path(qtasks.__file__).parent}")
    rows = []
    print("| transport | delayed tasks | empty claim (median) | add → result (median) |")
    print("|---|---|---|---|")
    for url in options.url:
        for count in counts:
            row = measure(url, count, options.samples)
            rows.append(row)
            print(
                f"| {row['url']} | {count:,} | {row['claim_ms']:.3f} ms "
                f"| {row['add_to_result_ms']:.2f} ms |",
                flush=True,
            )
    if options.json:
        Path(options.json).write_text(json.dumps(rows, indent=2))
    if options.plot:
        plot(rows, options.plot)


if __name__ == "__main__":
    main()
