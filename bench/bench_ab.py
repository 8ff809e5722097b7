"""Interleaved A/B of qtasks source trees: single sync ``add_task`` and an in-process drain.

Usage (from the repository root)::

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/bench_ab.py --url sqlite /tmp/before/src src
    .venv/bin/python bench/bench_ab.py --url 'redis://127.0.0.1:6379/1{i}' /tmp/before/src src

Each round runs every tree once, in turn, each in a fresh process with that tree first
on ``PYTHONPATH``: ``--n`` single ``noop.add_task(i)`` calls from a sync app
(``qtasks.QueueTasks``, an ``async def`` no-op), timed, then ``qtasks.testing.drain``
(one in-process worker, concurrency 50) of those tasks, timed. A warm-up of 300 tasks
is enqueued and drained first. Medians over ``--rounds`` are printed with every value;
rounds interleave so that a shared machine's slow moments hit both sides alike.

``--url``: ``sqlite`` (a new file per run), or a broker URL in which ``{i}`` becomes the
tree's position (1, 2, ...): give each tree its own Redis database or PostgreSQL schema
(``postgresql://postgres@127.0.0.1:5432/qtasks_test?schema=ab{i}``), so that trees of
different schema versions never share one. Every run uses a new app name. Nothing is
asserted: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

RUN = r"""
import os, sys, tempfile, time, uuid
from qtasks import QueueTasks
from qtasks.testing import drain

url, n = sys.argv[1], int(sys.argv[2])
if url == "sqlite":
    url = f"sqlite:///{tempfile.mkdtemp()}/ab.sqlite3"
app = QueueTasks(name="ab" + uuid.uuid4().hex[:8], broker_url=url)

@app.task
async def noop(i): pass

for i in range(300):
    noop.add_task(i)
drain(app, concurrency=50)
start = time.perf_counter()
for i in range(n):
    noop.add_task(i)
added = n / (time.perf_counter() - start)
start = time.perf_counter()
done = drain(app, concurrency=50)
print(added, done / (time.perf_counter() - start))
"""


def run_once(tree: str, url: str, n: int) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run(
        [sys.executable, "-c", RUN, url, str(n)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{tree}: the run failed:\n{out.stderr[-2000:]}")
    added, drained = out.stdout.split()[-2:]
    return float(added), float(drained)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+", help="src/ directories to compare")
    parser.add_argument("--url", default="sqlite", help="'sqlite' or a URL ({i}: tree 1, 2…)")
    parser.add_argument("--n", type=int, default=5000, help="tasks per run (default 5000)")
    parser.add_argument("--rounds", type=int, default=8, help="rounds (default 8)")
    args = parser.parse_args()
    figures: dict[str, tuple[list[float], list[float]]] = {t: ([], []) for t in args.trees}
    for _ in range(args.rounds):
        for index, tree in enumerate(args.trees, 1):
            added, drained = run_once(tree, args.url.replace("{i}", str(index)), args.n)
            figures[tree][0].append(added)
            figures[tree][1].append(drained)
    print(f"url {args.url}, n {args.n}, rounds {args.rounds}; tasks/s, median [every round]")
    for tree, (added, drained) in figures.items():
        print(
            f"{tree}: add_task {statistics.median(added):,.0f} {[round(a) for a in added]}"
            f"  drain {statistics.median(drained):,.0f} {[round(d) for d in drained]}"
        )


if __name__ == "__main__":
    main()
