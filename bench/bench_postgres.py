"""qtasks against procrastinate on the same local PostgreSQL, and qtasks' claim cost by depth.

Usage (from the repository root)::

    .venv/bin/python bench/bench_postgres.py --setup   # peer venv, databases, schemas
    .venv/bin/python bench/bench_postgres.py [--n 20000] [--runs 3] [--phases ...]

procrastinate runs in its own venv (``bench/.venvs/procrastinate``, pinned in
``bench/peers/peer_pg_procrastinate.py``); qtasks from this repository uses ``.venv``.
Each library has its own database on the server (``bench_qtasks``,
``bench_procrastinate``), emptied before each phase, ONE worker process, and the same
no-op task. Client sides are driven by ``bench/peers/_driver.py`` in the peer's venv.

Phases, per library (interleaved, so both see the same machine state):

``enqueue``
    N single enqueue calls from one process, after a warm-up call (tasks/s). qtasks:
    ``task.add_task(i)`` (sync API); procrastinate: ``await task.defer_async(i=i)``.
``drain``
    N no-op tasks enqueued beforehand in bulk, then one worker started cold. The rate is
    N over the span from the first task's start to the last task's end, as each library
    stored them (qtasks: ``started_at``/``finished_at``; procrastinate: its
    ``procrastinate_events``), so start-up is excluded and nothing polls the tables
    while the worker runs.
``latency``
    The worker idles on an empty queue; the client sends ``--lat-n`` tasks one at a time,
    ``--gap`` s apart. The task's first statement appends ``time.time()`` to a file (no
    database load); latency = that minus ``time.time()`` just before the enqueue call.
``claim`` (qtasks only, in this process)
    With 10^3 … 10^6 due tasks queued (``--claim-sizes``), the time of one
    ``broker.claim(limit=--claim-batch)`` call, ``--claim-samples`` times, each claim
    released again untimed so the depth stays put; median and p90. The plan of the claim
    at the largest depth (``EXPLAIN ANALYZE``) is kept in the JSON.

Figures are medians over ``--runs`` runs; ``bench/results/postgres-*.json`` keeps all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PEERS_DIR = BENCH_DIR / "peers"
RESULTS_DIR = BENCH_DIR / "results"
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(PEERS_DIR))

import psycopg  # noqa: E402
from bench_redis import (  # noqa: E402
    common_arguments,
    fmt,
    med,
    meta,
    python_of,
    ratio,
    run_interleaved,
    setup_venvs,
    stop_worker,
    target_lines,
    version_of,
)
from bench_sqlite import machine_info, percentile  # noqa: E402

from qtasks.brokers.postgres import PostgresBroker  # noqa: E402
from qtasks.core.envelope import Envelope  # noqa: E402
from qtasks.core.ids import new_task_id  # noqa: E402
from qtasks.core.records import Retention  # noqa: E402

SERVER = os.environ.get("BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432")
PEERS = {"qtasks": "pg_qtasks", "procrastinate": "pg_procrastinate"}
TARGETS = {"enqueue": 3_000, "drain": 5_000, "p50": 2.0}
LAT_FILE = Path("/tmp/bench-pg-lat.txt")


def url_of(peer: str) -> str:
    return f"{SERVER}/{meta(peer)['database']}"


def env_of(peer: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QTASKS_")}
    env.update(
        BENCH_RUNTIME="1",
        BENCH_PG_URL=url_of(peer),
        BENCH_LAT_FILE=str(LAT_FILE),
        PYTHONPATH=str(PEERS_DIR),
    )
    env.pop("VIRTUAL_ENV", None)
    return env


def sql(peer: str, statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url_of(peer), autocommit=True) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else []


def run_in_venv(peer: str, argv: list[str], timeout: float = 1800) -> str:
    py = python_of(peer)
    cmd = [part.format(python=py, bin=str(Path(py).parent)) for part in argv]
    out = subprocess.run(
        cmd, cwd=PEERS_DIR, env=env_of(peer), capture_output=True, text=True, timeout=timeout
    )
    if out.returncode != 0:
        raise RuntimeError(f"{peer} {shlex.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return out.stdout


def driver(peer: str, *args: Any) -> dict[str, Any]:
    out = run_in_venv(peer, ["{python}", str(PEERS_DIR / "_driver.py"), peer, *map(str, args)])
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def worker_command(peer: str) -> list[str]:
    py = python_of(peer)
    return [part.format(python=py, bin=str(Path(py).parent)) for part in meta(peer)["worker"]]


def start_worker(peer: str, log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        worker_command(peer),
        cwd=PEERS_DIR,
        env=env_of(peer),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def reset(peer: str) -> None:
    sql(peer, meta(peer)["reset"])


def setup_databases() -> None:
    with psycopg.connect(f"{SERVER}/test", autocommit=True) as admin:
        for peer in PEERS.values():
            name = meta(peer)["database"]
            if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                continue
            admin.execute(f'CREATE DATABASE "{name}"')
    for peer in PEERS.values():
        run_in_venv(peer, meta(peer)["schema"])


# phases ----------------------------------------------------------------------------------


def phase_enqueue(peer: str, args: argparse.Namespace, out: dict[str, Any]) -> None:
    reset(peer)
    res = driver(peer, "enqueue", args.n)
    out.setdefault("enqueue", []).append(args.n / res["seconds"])


def phase_drain(peer: str, args: argparse.Namespace, out: dict[str, Any]) -> None:
    reset(peer)
    driver(peer, "prefill", args.n)
    span_sql = meta(peer)["drain_span"]
    log = RESULTS_DIR / "logs" / f"{peer}-drain.log"
    proc = start_worker(peer, log)
    deadline = time.monotonic() + args.drain_timeout
    try:
        while True:
            time.sleep(0.25)  # a cheap count now and then: the rate comes from stored times
            done, first, last = sql(peer, span_sql)[0]
            if done >= args.n:
                break
            if proc.poll() is not None:
                raise RuntimeError(f"{peer}: worker exited at {done}/{args.n}, see {log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{peer}: drain stuck at {done}/{args.n}, see {log}")
    finally:
        stop_worker(proc)
    out.setdefault("drain", []).append(done / (float(last) - float(first)))


def lat_lines() -> list[str]:
    try:
        return LAT_FILE.read_text().splitlines()
    except FileNotFoundError:
        return []


def wait_lines(count: int, timeout: float, proc: subprocess.Popen[bytes]) -> list[str]:
    deadline = time.monotonic() + timeout
    while len(lines := lat_lines()) < count:
        if time.monotonic() > deadline or proc.poll() is not None:
            break
        time.sleep(0.01)
    return lines


def phase_latency(peer: str, args: argparse.Namespace, out: dict[str, Any]) -> None:
    reset(peer)
    LAT_FILE.unlink(missing_ok=True)
    log = RESULTS_DIR / "logs" / f"{peer}-latency.log"
    proc = start_worker(peer, log)
    try:
        driver(peer, "latency", 1, 0)  # warm-up: the worker has run one task, then idles
        if not wait_lines(1, 60, proc):
            raise RuntimeError(f"{peer}: worker never ran the warm-up task, see {log}")
        time.sleep(1.0)
        LAT_FILE.unlink()
        sent = driver(peer, "latency", args.lat_n, args.gap)["sent"]
        got = wait_lines(args.lat_n, 30, proc)
    finally:
        stop_worker(proc)
    starts = {int(i): float(t) for i, t in (line.split() for line in got)}
    lat = [(starts[i] - t) * 1000 for i, t in enumerate(sent) if i in starts]
    if len(lat) < args.lat_n:
        out["lat_missing"] = args.lat_n - len(lat)
    out.setdefault("p50", []).append(percentile(lat, 50))
    out.setdefault("p99", []).append(percentile(lat, 99))


async def claim_scaling(args: argparse.Namespace) -> dict[str, Any]:
    """Claim time by queue depth, on a schema of its own in qtasks' bench database."""
    url = f"{url_of('pg_qtasks')}?schema=bench_claim"
    broker = PostgresBroker(url)
    await broker.connect()
    await broker.flush_all()
    figures: dict[str, Any] = {}
    queued = 0
    try:
        for size in args.claim_sizes:
            while queued < size:
                chunk = min(10_000, size - queued)
                await broker.enqueue(
                    [
                        Envelope(id=new_task_id(), task_name="noop", queue="default")
                        for _ in range(chunk)
                    ]
                )
                queued += chunk
            sql("pg_qtasks", "VACUUM ANALYZE bench_claim.qtasks_tasks")
            times = []
            for _ in range(args.claim_samples):
                t0 = time.perf_counter()
                got = await broker.claim(
                    ["default"], args.claim_batch, lease=60, worker_id="b", wait=0
                )
                times.append((time.perf_counter() - t0) * 1000)
                assert len(got) == args.claim_batch
                await broker.release(
                    [d.id for d in got],
                    worker_id="b",
                    retention=Retention(result_ttl=None, dead_ttl=None),
                )
            figures[str(size)] = {
                "median_ms": statistics.median(times),
                "p90_ms": percentile(times, 90),
            }
            print(
                f"claim of {args.claim_batch} with {size:>9,} queued: "
                f"median {figures[str(size)]['median_ms']:.3f} ms",
                file=sys.stderr,
                flush=True,
            )
        figures["plan"] = explain_claim(broker, args.claim_batch)
    finally:
        await broker.flush_all()
        await broker.close()
    return figures


def explain_claim(broker: PostgresBroker, batch: int) -> list[str]:
    params = {
        "app": broker._app,  # every statement names its app (the namespace)
        "queues": ["default"],
        "limit": batch,
        "lease": 60.0,
        "worker": "b",
    }
    with psycopg.connect(url_of("pg_qtasks")) as conn:  # rolled back on exit
        rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {broker._sql['claim_alone']}", params)
        plan = [row[0] for row in rows]
        conn.rollback()
    return plan


PHASES = {"enqueue": phase_enqueue, "drain": phase_drain, "latency": phase_latency}


# report ----------------------------------------------------------------------------------


def table(results: dict[str, dict[str, Any]]) -> list[str]:
    q = results.get("qtasks", {})
    cols = [
        ("enqueue", "/s", True, "single enqueue"),
        ("drain", "/s", True, "drain (1 worker)"),
        ("p50", "ms", False, "latency p50"),
        ("p99", "ms", False, "latency p99"),
    ]
    lines = [
        "| library | version | " + " | ".join(c[3] for c in cols) + " |",
        "|---|---|" + "---:|" * len(cols),
    ]
    for name, res in results.items():
        cells = []
        for key, unit, higher_better, _ in cols:
            v = med(res.get(key))
            cell = fmt(v, unit)
            if name != "qtasks":
                cell += ratio(v, med(q.get(key)), higher_better)
            cells.append(cell)
        lines.append(
            f"| {meta(PEERS[name])['label']} | {res['version']} | " + " | ".join(cells) + " |"
        )
    return lines


def report(
    args: argparse.Namespace,
    machine: dict[str, Any],
    command: str,
    results: dict[str, Any],
    claims: dict[str, Any] | None,
) -> None:
    for key, value in machine.items():
        print(f"{key + ':':<15}{value}")
    print(f"{'command:':<15}{command}")
    print(
        f"{'N:':<15}{args.n} (latency: {args.lat_n} tasks, {args.gap * 1000:.0f} ms apart); "
        f"medians of {args.runs} runs"
    )
    print("ratios: (Nx) = qtasks' figure relative to the peer's, >1 means qtasks is better\n")
    for line in table(results):
        print(line)
    for name, res in results.items():
        print(
            f"  {name}: worker {res['worker']}  [{res['tuning']}]"
            + (f"  ERROR {res['error']}" if "error" in res else "")
        )
        busy = [
            f"{o['phase']} (run {o['run']}: {o['share']:.0%})"
            for o in res["other_load"]
            if o["share"] and o["share"] > args.max_other_load
        ]
        if busy:
            print("    disturbed: " + ", ".join(busy))
    q = results.get("qtasks", {})
    if q:
        print("\nqtasks against its targets:")
        checks = (
            ("enqueue", "single enqueue", True),
            ("drain", "drain", True),
            ("p50", "latency p50", False),
        )
        print("\n".join(target_lines(q, checks, TARGETS)))
    if claims:
        print(
            f"\nqtasks claim of {args.claim_batch} tasks by queue depth "
            f"(median of {args.claim_samples}):\n"
        )
        print("| tasks queued | median | p90 |\n|---:|---:|---:|")
        for size in args.claim_sizes:
            f = claims[str(size)]
            print(f"| {size:,} | {f['median_ms']:.3f} ms | {f['p90_ms']:.3f} ms |")
        index_lines = [
            line.strip() for line in claims["plan"] if "Index Scan using qtasks_tasks_ready" in line
        ]
        print(
            "\nplan at the largest depth: "
            + (index_lines[0] if index_lines else "NO READY-INDEX SCAN")
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = common_arguments(
        __doc__,
        peers=PEERS,
        phases="enqueue,drain,latency,claim",
        drain_timeout=300,
        quiet_wait=30,
    )
    p.add_argument(
        "--claim-sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[10**3, 10**4, 10**5, 10**6],
    )
    p.add_argument("--claim-samples", type=int, default=500)
    p.add_argument("--claim-batch", type=int, default=10)
    p.add_argument("--setup", action="store_true", help="create the peer venv, databases, schemas")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    peers = [p for p in args.peers.split(",") if p]
    if args.setup:
        setup_venvs([PEERS[p] for p in peers])
        setup_databases()
        return 0
    command = "python bench/bench_postgres.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    machine = machine_info()
    machine.pop("sqlite", None)
    machine["postgresql"] = sql("pg_qtasks", "SHOW server_version")[0][0]
    machine["synchronous_commit"] = sql("pg_qtasks", "SHOW synchronous_commit")[0][0]
    if os.environ.get("BENCH_PG_QTASKS_QUERY"):
        machine["qtasks_url_options"] = os.environ["BENCH_PG_QTASKS_QUERY"]
    results: dict[str, dict[str, Any]] = {
        name: {
            "version": version_of(PEERS[name]),
            "tuning": meta(PEERS[name])["tuning"],
            "worker": shlex.join(worker_command(PEERS[name])),
            "other_load": [],
        }
        for name in peers
    }
    phases = [p for p in args.phases.split(",") if p in PHASES]
    run_interleaved(
        args, peers, phases, results, lambda phase, name, res: PHASES[phase](PEERS[name], args, res)
    )
    claims = asyncio.run(claim_scaling(args)) if "claim" in args.phases.split(",") else None
    print()
    report(args, machine, command, results, claims)
    out = (
        RESULTS_DIR
        / f"postgres-{machine['commit'].split()[0]}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "machine": machine,
                "command": command,
                "arguments": vars(args),
                "results": results,
                "claims": claims,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
