"""Benchmark qtasks on the embedded SQLite transport.

Usage (from the repository root)::

    .venv/bin/python bench/bench_sqlite.py [--n 20000] [--runs 3]

Every phase of every run gets a fresh database file in its own temporary
directory (``sqlite:////tmp/.../bench.sqlite3``). Each figure printed is the
median over ``--runs`` runs; the JSON file written to ``bench/results/`` keeps
every run's value.

Phases, in the order they run (``--phases`` selects a subset):

``floor``
    Reference, not a qtasks figure: the same INSERT statement on a bare
    ``SQLiteBroker`` connection (same file settings), rows prepared beforehand, so
    only SQLite is timed; once per task (autocommit) and per chunk
    (``executemany`` in one transaction). The gap to ``add_sync``/``bulk`` is the
    client's own Python cost.
``add_sync``
    ``task.add_task(i)`` N times from one process, sync API (``qtasks.QueueTasks``).
``add_async``
    ``await task.add_task(i)`` N times in a loop, async API (``qtasks.asyncio.QueueTasks``).
``bulk``
    ``app.add_tasks([noop(i), ...])`` and ``task.add_tasks([(i,), ...])`` in chunks
    of ``--chunk`` tasks.
``drain``
    N no-op tasks enqueued in bulk, then ONE cold worker process
    (``python -m qtasks -A bench_app:app run --burst``) runs them all; results are
    stored (the default). For a sync task (thread pool), an async task, and a
    sync task with ``executor="loop"``.
``latency``
    A worker process idling on an empty queue; the client enqueues one task at a
    time, ``--gap`` seconds apart. Enqueue→start latency is the row's
    ``started_at`` (set by the claim) minus its ``created_at`` (set by the client
    before the insert): both ``time.time()`` on the same machine.

Shared machines: before each phase the script waits (``--quiet-wait``) until
other processes use under ``--max-other-load`` of the CPUs, measures how much
they used meanwhile, redoes a disturbed phase (``--retries``) and flags it in
the report if it stays disturbed. The report also names the qtasks source
measured (path, git commit, a hash of its files) and warns when it changed
during the run. To measure another checkout, put its ``src`` first on
``PYTHONPATH``; the workers inherit it.

Profiling: ``--worker-wrapper`` prefixes the worker command (it runs with cwd
``bench/``, so give absolute paths), e.g.
``--worker-wrapper "$PWD/.venv/bin/py-spy record -f raw -o /tmp/drain.txt --"``.

Nothing here is a test: no figure is asserted, misses are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import json
import os
import platform
import shlex
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
sys.path.insert(0, str(BENCH_DIR))

from bench_app import register_tasks  # noqa: E402

import qtasks  # noqa: E402
import qtasks.asyncio  # noqa: E402
from qtasks.tasks import AsyncTask, SyncTask  # noqa: E402

PHASES = ("floor", "add_sync", "add_async", "bulk", "drain", "latency")

#: Drain variants: (row label, task name).
DRAIN_TASKS = (
    ("drain: sync noop (thread pool)", "noop"),
    ("drain: async anoop", "anoop"),
    ("drain: sync noop, executor=loop", "noop_loop"),
)


# results ---------------------------------------------------------------------------------


@dataclass
class Figure:
    """One measured quantity: a value per run, its median, and the target it is held to."""

    name: str
    unit: str
    values: list[float] = field(default_factory=list)
    target: float | None = None
    higher_is_better: bool = True
    note: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def met(self) -> bool | None:
        if self.target is None or self.median is None:
            return None
        if self.higher_is_better:
            return self.median >= self.target
        return self.median <= self.target


class Results:
    """Figures in the order they were first recorded."""

    def __init__(self) -> None:
        self.figures: dict[str, Figure] = {}
        self.background: list[dict[str, Any]] = []

    def merge(self, other: Results) -> None:
        """Append ``other``'s values (one more run of some phase) to these figures."""
        for f in other.figures.values():
            for value in f.values:
                self.add(
                    f.name,
                    value,
                    f.unit,
                    target=f.target,
                    higher_is_better=f.higher_is_better,
                    note=f.note,
                )

    def add(
        self,
        name: str,
        value: float,
        unit: str,
        *,
        target: float | None = None,
        higher_is_better: bool = True,
        note: str = "",
    ) -> None:
        figure = self.figures.get(name)
        if figure is None:
            figure = self.figures[name] = Figure(name, unit, [], target, higher_is_better, note)
        figure.values.append(value)


# helpers ---------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_db() -> Iterator[tuple[str, Path]]:
    """A new temporary directory with a database path in it: ``(url, path)``.

    Pending writes of earlier phases (deleted databases included) are flushed
    first, so a phase does not pay for the previous one's I/O.
    """
    gc.collect()
    if hasattr(os, "sync"):
        os.sync()
    with tempfile.TemporaryDirectory(prefix="qtasks-bench-") as tmp:
        path = Path(tmp) / "bench.sqlite3"
        yield f"sqlite:///{path}", path  # path is absolute: four slashes in all


def sync_app(url: str) -> qtasks.QueueTasks:
    app = qtasks.QueueTasks("bench", broker_url=url)
    register_tasks(app)
    return app


def async_app(url: str) -> qtasks.asyncio.QueueTasks:
    app = qtasks.asyncio.QueueTasks("bench", broker_url=url)
    register_tasks(app)
    return app


def sync_task(app: qtasks.QueueTasks, name: str) -> SyncTask[Any, Any]:
    """The task handle ``name`` of a sync app (typed: ``app.tasks`` holds the base class)."""
    return cast(SyncTask[Any, Any], app.tasks[name])


def async_task(app: qtasks.asyncio.QueueTasks, name: str) -> AsyncTask[Any, Any]:
    """The task handle ``name`` of an async app."""
    return cast(AsyncTask[Any, Any], app.tasks[name])


def db_query(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the benchmark database directly (a separate, short-lived connection)."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def count_rows(path: Path) -> int:
    return int(db_query(path, "SELECT count(*) FROM qtasks_task")[0][0])


def prefill(url: str, task_name: str, n: int, chunk: int) -> None:
    """Enqueue ``n`` calls of ``task_name`` in bulk (not timed)."""
    app = sync_app(url)
    task = sync_task(app, task_name)
    for start in range(0, n, chunk):
        task.add_tasks([(i,) for i in range(start, min(n, start + chunk))])


def worker_command(args: argparse.Namespace, *, burst: bool) -> list[str]:
    """``[wrapper...] python -m qtasks -A bench_app:app run [--burst]``."""
    cmd = [sys.executable, "-m", "qtasks", "-A", "bench_app:app", "run"]
    if burst:
        cmd.append("--burst")
    return shlex.split(args.worker_wrapper) + cmd if args.worker_wrapper else cmd


def worker_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["QTASKS_BROKER_URL"] = url
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BENCH_DIR), env.get("PYTHONPATH", "")) if p)
    return env


def start_worker(args: argparse.Namespace, url: str, log_path: Path, *, burst: bool) -> Any:
    """Start a worker process (cwd ``bench/``), its output going to ``log_path``."""
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed by the caller via proc.log_file
    proc = subprocess.Popen(
        worker_command(args, burst=burst),
        cwd=BENCH_DIR,
        env=worker_env(url),
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    proc.log_file = log_file  # type: ignore[attr-defined]
    return proc


def finish_worker(proc: Any, log_path: Path, *, timeout: float) -> None:
    """Wait for a worker to exit; show its log if it failed."""
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = "killed after timeout"
    proc.log_file.close()
    if code != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"worker exited with {code}; its output:\n{tail}")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# phases ----------------------------------------------------------------------------------


def bench_floor(args: argparse.Namespace, results: Results) -> None:
    """The storage floor: qtasks' own INSERT on the broker's connection, no client code.

    Rows (ids, encoded envelopes) are built before the clock starts; timed are
    only ``conn.execute(enqueue, row)`` per task (each its own transaction, as
    ``add_task`` does) and ``BEGIN IMMEDIATE; executemany; COMMIT`` per chunk (as
    ``add_tasks`` does). Uses broker internals (``_db``, ``_insert_row``,
    ``QUERIES``) on purpose, to get exactly the connection settings qtasks uses.
    """
    from qtasks.brokers.sqlite import QUERIES, SQLiteBroker
    from qtasks.client import Client
    from qtasks.core.envelope import encode_envelope

    sql = QUERIES["enqueue"]
    for label, chunked in (
        ("floor: raw INSERT, one per transaction", False),
        (f"floor: raw executemany (chunks of {args.chunk})", True),
    ):
        with fresh_db() as (_url, path):
            broker = SQLiteBroker(str(path))
            conn = broker._db()
            now = time.time()
            rows = []
            for i in range(args.n):
                env = Client.envelope(None, "noop", (i,), {}, queue="default", priority=None)
                rows.append(broker._insert_row(env, encode_envelope(env), now))
            t0 = time.perf_counter()
            if chunked:
                for start in range(0, args.n, args.chunk):
                    conn.execute("BEGIN IMMEDIATE")
                    conn.executemany(sql, rows[start : start + args.chunk])
                    conn.execute("COMMIT")
            else:
                for row in rows:
                    conn.execute(sql, row)
            elapsed = time.perf_counter() - t0
            conn.close()
            assert count_rows(path) == args.n
        results.add(label, args.n / elapsed, "tasks/s", note="reference: SQLite alone")


def bench_add_sync(args: argparse.Namespace, results: Results) -> None:
    """Single ``task.add_task(i)`` calls, sync API, one process: tasks/s.

    Timed: N calls, each one INSERT in its own implicit transaction, plus
    building the returned ``Task`` record. Not timed: opening the connection
    and creating the schema (one ``app.ping()`` first).
    """
    with fresh_db() as (url, path):
        app = sync_app(url)
        task = sync_task(app, "noop")
        app.ping()
        t0 = time.perf_counter()
        for i in range(args.n):
            task.add_task(i)
        elapsed = time.perf_counter() - t0
        assert count_rows(path) == args.n
    results.add("add_task, sync API", args.n / elapsed, "tasks/s", target=10_000)


def bench_add_async(args: argparse.Namespace, results: Results) -> None:
    """Single ``await task.add_task(i)`` calls in a loop, async API: tasks/s.

    Same as ``add_sync`` but awaited on the caller's running loop
    (``asyncio.run``), so the sync facade (``LoopRunner``) is not involved.
    """
    with fresh_db() as (url, path):

        async def main() -> float:
            app = async_app(url)
            task = async_task(app, "noop")
            await app.ping()
            t0 = time.perf_counter()
            for i in range(args.n):
                await task.add_task(i)
            return time.perf_counter() - t0

        elapsed = asyncio.run(main())
        assert count_rows(path) == args.n
    results.add("add_task, async API", args.n / elapsed, "tasks/s", target=10_000)


def bench_bulk(args: argparse.Namespace, results: Results) -> None:
    """Bulk enqueue in chunks of ``--chunk``: tasks/s, for two spellings.

    ``app.add_tasks([noop(i), ...])``: building the ``TaskCall`` objects is timed
    too (it is what a caller writes). ``task.add_tasks([(i,), ...])``: argument
    tuples. Each chunk is one ``executemany`` in one transaction.
    """
    chunk = args.chunk
    variants: list[tuple[str, Callable[[Any, int, int], Any]]] = [
        (
            f"bulk app.add_tasks (chunks of {chunk})",
            lambda app, a, b: app.add_tasks([sync_task(app, "noop")(i) for i in range(a, b)]),
        ),
        (
            f"bulk task.add_tasks (chunks of {chunk})",
            lambda app, a, b: sync_task(app, "noop").add_tasks([(i,) for i in range(a, b)]),
        ),
    ]
    for label, enqueue in variants:
        with fresh_db() as (url, path):
            app = sync_app(url)
            app.ping()
            t0 = time.perf_counter()
            for start in range(0, args.n, chunk):
                enqueue(app, start, min(args.n, start + chunk))
            elapsed = time.perf_counter() - t0
            assert count_rows(path) == args.n
        results.add(label, args.n / elapsed, "tasks/s", target=200_000)


def bench_drain(args: argparse.Namespace, results: Results) -> None:
    """N pre-enqueued no-op tasks drained by ONE cold ``--burst`` worker process.

    In-DB rate: N / (last ``finished_at`` - first ``started_at``), read from
    ``qtasks_task``: the worker's steady throughput, results stored.
    Wall rate: N / (process start .. process exit), which adds interpreter and
    import start-up and the burst mode's final empty claim (0.2 s).
    Diagnostics: average tasks per claim (rows sharing one ``started_at``) and
    outcomes per write (rows sharing one ``updated_at``): how well the worker batches.
    Default worker options (``max_tasks_process``, ``prefetch``; ``QTASKS_*`` variables
    in the environment reach the worker too).
    """
    for label, task_name in DRAIN_TASKS:
        if task_name not in args.drain_tasks:
            continue
        with fresh_db() as (url, path):
            prefill(url, task_name, args.n, args.chunk)
            log_path = path.with_suffix(".log")
            launched = time.time()
            t0 = time.perf_counter()
            proc = start_worker(args, url, log_path, burst=True)
            finish_worker(proc, log_path, timeout=args.timeout)
            wall = time.perf_counter() - t0
            done, first_start, last_finish, claims, writes = db_query(
                path,
                "SELECT sum(status = 'success'), min(started_at), max(finished_at), "
                "count(DISTINCT started_at), count(DISTINCT updated_at) FROM qtasks_task",
            )[0]
        if done != args.n:
            raise RuntimeError(f"{label}: {done} of {args.n} tasks succeeded")
        results.add(label, args.n / (last_finish - first_start), "tasks/s", target=20_000)
        results.add(
            f"{label}, wall incl. start", args.n / wall, "tasks/s", note="no target; see docstring"
        )
        results.add(
            f"{label}, launch→first start",
            (first_start - launched) * 1000,
            "ms",
            higher_is_better=False,
            note="process start + imports + connect",
        )
        # One claim stamps all its rows with one started_at; one outcome write, one updated_at.
        results.add(f"{label}, tasks per claim", args.n / claims, "tasks", note="diagnostic")
        results.add(f"{label}, outcomes per write", args.n / writes, "tasks", note="diagnostic")


def bench_latency(args: argparse.Namespace, results: Results) -> None:
    """Enqueue→start latency on an idle worker: p50 and p99 in ms.

    A worker (not burst) runs ``noop``; the client waits for one task to finish
    (the worker is up), then enqueues ``--warmup`` + ``--latency-n`` tasks one at
    a time, sleeping ``--gap`` between them. Latency per task = ``started_at`` -
    ``created_at`` of its row; the warm-up tasks are excluded.
    """
    with fresh_db() as (url, path):
        app = sync_app(url)
        task = sync_task(app, "noop")
        app.ping()
        log_path = path.with_suffix(".log")
        proc = start_worker(args, url, log_path, burst=False)
        try:
            ready = task.add_task(-1, timeout=args.timeout)
            if ready is None or ready.status != "success":
                raise RuntimeError(f"worker did not run the readiness task: {ready}")
            ids = []
            for i in range(args.warmup + args.latency_n):
                record = task.add_task(i)
                assert record is not None
                ids.append(str(record.uuid))
                time.sleep(args.gap)
            app.wait_result(ids[-1], timeout=args.timeout)
        finally:
            proc.send_signal(signal.SIGTERM)
            finish_worker(proc, log_path, timeout=args.timeout)
        measured = ids[args.warmup :]
        rows = db_query(
            path,
            "SELECT id, started_at - created_at FROM qtasks_task WHERE started_at IS NOT NULL",
        )
    by_id = dict(rows)
    latencies = [by_id[i] * 1000 for i in measured if i in by_id]
    if len(latencies) != len(measured):
        raise RuntimeError(f"only {len(latencies)} of {len(measured)} tasks started")
    results.add(
        "enqueue→start p50", percentile(latencies, 50), "ms", target=1.0, higher_is_better=False
    )
    results.add(
        "enqueue→start p99",
        percentile(latencies, 99),
        "ms",
        higher_is_better=False,
        note="no target",
    )
    results.add("enqueue→start max", max(latencies), "ms", higher_is_better=False, note="no target")


PHASE_FUNCS: dict[str, Callable[[argparse.Namespace, Results], None]] = {
    "floor": bench_floor,
    "add_sync": bench_add_sync,
    "add_async": bench_add_async,
    "bulk": bench_bulk,
    "drain": bench_drain,
    "latency": bench_latency,
}


# background load -------------------------------------------------------------------------


class OtherLoad:
    """CPU used by processes other than this benchmark and its workers, while it runs.

    Busy time of the whole machine (``/proc/stat``) minus this process' and its
    waited-for children's CPU time (``os.times``), as a share of all CPUs. A
    figure measured while something else burned CPU is not comparable: the
    report flags such phases instead of silently mixing them in.
    """

    _tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self) -> None:
        self._start = self._sample()

    def _sample(self) -> tuple[float, float, float] | None:
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        except OSError:
            return None
        user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[:7])
        machine_busy = (user + nice + system + irq + softirq) / self._tick
        t = os.times()
        own = t.user + t.system + t.children_user + t.children_system
        return machine_busy, own, time.monotonic()

    def share(self) -> float | None:
        """Other processes' CPU since construction, as a fraction of all CPUs' time."""
        end = self._sample()
        if self._start is None or end is None:
            return None
        busy = end[0] - self._start[0]
        own = end[1] - self._start[1]
        capacity = (end[2] - self._start[2]) * (os.cpu_count() or 1)
        return max(0.0, busy - own) / capacity if capacity > 0 else None


# report ----------------------------------------------------------------------------------


def source_digest() -> str:
    """A short hash of the imported qtasks package's .py/.sql files: which code was measured."""
    package = Path(qtasks.__file__).resolve().parent
    digest = hashlib.sha256()
    for file in sorted(package.rglob("*")):
        if file.suffix in (".py", ".sql"):
            digest.update(file.relative_to(package).as_posix().encode() + b"\0")
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def machine_info() -> dict[str, Any]:
    """nproc, CPU model, Python, SQLite, qtasks version and the git commit measured."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count() or 0
    commit = "unknown"
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        commit = subprocess.run(
            ["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_DIR), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if dirty:
            commit += " (src/ has uncommitted changes)"
    package = Path(qtasks.__file__).resolve().parent
    if not package.is_relative_to(REPO_DIR):
        commit = "n/a (qtasks imported from outside the repository)"
    return {
        "nproc": nproc,
        "cpu": cpu,
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "qtasks": qtasks.__version__,
        "commit": commit,
        "qtasks_source": str(package),
        "source_sha256": source_digest(),
    }


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:,.2f} ms"
    if unit == "tasks/s":
        return f"{value:,.0f} /s"
    return f"{value:,.1f} {unit}"


def print_report(machine: dict[str, Any], command: str, results: Results, runs: int) -> None:
    print()
    for key, value in machine.items():
        print(f"{key + ':':<15}{value}")
    print(f"{'command:':<15}{command}")
    print()
    rows = [("figure", f"median of {runs}", "target", "met", "runs")]
    for f in results.figures.values():
        if f.target is None:
            target = "-"
        else:
            target = ("≥ " if f.higher_is_better else "≤ ") + format_value(f.target, f.unit)
        met = {None: "", True: "yes", False: "NO"}[f.met]
        each = ", ".join(format_value(v, f.unit).split(" ")[0] for v in f.values)
        rows.append((f.name, format_value(f.median, f.unit), target, met, each))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for n, row in enumerate(rows):
        print(
            "  ".join(
                cell.ljust(w) if i in (0, 3, 4) else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


def write_json(
    path: Path, machine: dict[str, Any], command: str, args: argparse.Namespace, results: Results
) -> None:
    payload = {
        "machine": machine,
        "command": command,
        "arguments": vars(args),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "figures": [
            {**asdict(f), "median": f.median, "met": f.met} for f in results.figures.values()
        ],
        "background_load": results.background,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")


def wait_until_quiet(threshold: float, timeout: float) -> None:
    """Return once other processes used < ``threshold`` of the CPUs for one second."""
    start = time.monotonic()
    announced = False
    while time.monotonic() - start < timeout:
        load = OtherLoad()
        time.sleep(1.0)
        share = load.share()
        if share is None or share < threshold:
            if announced:
                print(f"  quiet after {time.monotonic() - start:.0f}s", file=sys.stderr)
            return
        if not announced:
            print(f"  waiting: other processes use {share:.0%} of the CPUs", file=sys.stderr)
            announced = True
    print(f"  still busy after {timeout:.0f}s; measuring anyway", file=sys.stderr)


def run_phase(args: argparse.Namespace, phase: str, run: int, results: Results) -> float | None:
    """Run one phase; with ``--retries``, redo it when other processes were busy meanwhile.

    Returns the other processes' CPU share during the attempt that was kept.
    """
    for attempt in range(args.retries + 1):
        if args.quiet_wait > 0:
            wait_until_quiet(args.max_other_load, args.quiet_wait)
        t0 = time.perf_counter()
        load = OtherLoad()
        attempt_results = Results()
        PHASE_FUNCS[phase](args, attempt_results)
        other = load.share()
        busy = other is not None and other > args.max_other_load
        print(
            f"run {run}/{args.runs}: {phase} done in {time.perf_counter() - t0:.1f}s"
            + ("" if other is None else f", other processes used {other:.0%} of the CPUs")
            + (", discarded" if busy and attempt < args.retries else ""),
            file=sys.stderr,
            flush=True,
        )
        if not busy or attempt == args.retries:
            break
    results.merge(attempt_results)
    results.background.append(
        {"run": run, "phase": phase, "other_cpu_share": other, "attempts": attempt + 1}
    )
    return other


# main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", type=int, default=20_000, help="tasks per throughput phase (default: %(default)s)"
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="runs of each phase; figures are medians (default: %(default)s)",
    )
    parser.add_argument(
        "--phases", default=",".join(PHASES), help="comma-separated subset of: " + ", ".join(PHASES)
    )
    parser.add_argument(
        "--chunk", type=int, default=1000, help="tasks per add_tasks call (default: %(default)s)"
    )
    parser.add_argument(
        "--latency-n",
        type=int,
        default=300,
        help="tasks measured in the latency phase (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=20,
        help="latency tasks sent first and not counted (default: %(default)s)",
    )
    parser.add_argument(
        "--gap",
        type=float,
        default=0.005,
        help="seconds between latency enqueues (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds a worker may take before it is killed (default: %(default)s)",
    )
    parser.add_argument(
        "--drain-tasks",
        default=",".join(name for _, name in DRAIN_TASKS),
        help="comma-separated drain variants to run (default: %(default)s)",
    )
    parser.add_argument(
        "--worker-wrapper",
        default="",
        help="command prefix for worker processes, for profiling (absolute paths: workers "
        "run in bench/), e.g. '/abs/.venv/bin/py-spy record -o /tmp/drain.svg --'",
    )
    parser.add_argument(
        "--max-other-load",
        type=float,
        default=0.10,
        help="flag phases during which other processes used more than this share of the "
        "CPUs (default: %(default)s)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        help="before each phase, wait up to this many seconds for other processes to go "
        "below --max-other-load; 0 disables (default: %(default)s)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="redo a phase up to this many times when other processes were busy during it "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON result file (default: bench/results/sqlite-<time>.json)",
    )
    args = parser.parse_args(argv)
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    args.drain_tasks = [t.strip() for t in args.drain_tasks.split(",") if t.strip()]
    unknown = set(args.drain_tasks) - {name for _, name in DRAIN_TASKS}
    if unknown:
        parser.error(f"unknown drain tasks: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join([os.path.relpath(sys.executable), *sys.argv] if argv is None else argv)
    if os.environ.get("PYTHONPATH"):
        command = f"PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])} {command}"
    machine = machine_info()
    results = Results()
    loaded: list[str] = []
    for run in range(1, args.runs + 1):
        for phase in args.phases:
            other = run_phase(args, phase, run, results)
            if other is not None and other > args.max_other_load:
                loaded.append(f"{phase} (run {run}): {other:.0%}")
    warnings = []
    if source_digest() != machine["source_sha256"]:
        warnings.append("the qtasks source changed during the run: figures mix two versions")
    if loaded:
        warnings.append("other processes were busy during: " + "; ".join(loaded))
    if warnings:
        machine["warning"] = " | ".join(warnings)
    print_report(machine, command, results, args.runs)
    out = args.out or RESULTS_DIR / f"sqlite-{time.strftime('%Y%m%d-%H%M%S')}.json"
    write_json(out, machine, command, args, results)
    print(f"\nresults written to {os.path.relpath(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
