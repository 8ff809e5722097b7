"""qtasks against its peers on the same local Redis, side by side in one run.

Usage (from the repository root)::

    .venv/bin/python bench/bench_redis.py [--n 20000] [--runs 3] [--peers qtasks,celery,...]
    .venv/bin/python bench/bench_redis.py --setup   # create bench/.venvs/<peer> and pip install

Every peer runs in its own venv under ``bench/.venvs/`` (qtasks from this repository
uses ``.venv``); its client side and its no-op task live in ``bench/peers/peer_<name>.py``
and are driven by ``bench/peers/_driver.py`` inside that venv. Every library gets the
same Redis server, ONE worker process (see each peer's ``tuning`` note), and its own
logical database (1-9, flushed before each phase; database 15 is never touched).

Phases, per library, in this order:

``enqueue``
    N single enqueue calls of the no-op task from one process (tasks/s), after one
    warm-up call. The library's idiomatic single-call API (``task.add_task(i)``,
    ``task.delay(i)``, ``q.enqueue(f, i)``, ``await pool.enqueue_job(...)``, …).
``drain``
    N no-op tasks enqueued beforehand (bulk API where the library has one), then
    ONE worker process started cold. The bench process polls, every 2 ms, a cheap
    per-library count of finished tasks in Redis (``done`` in the peer's META: a
    ZCARD of a finished set, a result-key count, …) and reports
    ``(N - done at first sight of progress) / (time of last - time of first sight)``:
    start-up is excluded. For qtasks it also reports the span from the first task's
    ``started_at`` to the last task's ``finished_at`` as stored by the worker.
``latency``
    The worker idles on an empty queue (its process-tree RSS is read from
    /proc/<pid>/status VmRSS after a warm-up task and 1 s of idling); the client sends
    ``--lat-n`` latency tasks one at a time, ``--gap`` s apart. The task's first
    statement RPUSHes its ``time.time()`` to Redis; the client recorded ``time.time()``
    just before the enqueue call. Latency = start - enqueue; p50/p99.

Figures are medians over ``--runs`` runs; the JSON in ``bench/results/`` keeps all.
Before each phase the script waits for a quiet machine (as ``bench_sqlite.py``) and
flags phases measured while other processes used more than ``--max-other-load``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
PEERS_DIR = BENCH_DIR / "peers"
VENVS_DIR = BENCH_DIR / ".venvs"
RESULTS_DIR = BENCH_DIR / "results"
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(PEERS_DIR))

import redis  # noqa: E402
from bench_sqlite import OtherLoad, machine_info, percentile, wait_until_quiet  # noqa: E402

PEERS = (
    "qtasks",
    "qtasks173",
    "celery",
    "dramatiq",
    "rq",
    "arq",
    "huey",
    "taskiq",
    "saq",
    "streaq",
)
TARGETS = {"enqueue": 10_000, "drain": 10_000, "p50": 0.3, "p99": 2.0, "rss": 40.0}
DB = {name: 1 + i % 9 for i, name in enumerate(PEERS)}  # 1..9, never 15


def meta(name: str) -> dict[str, Any]:
    return importlib.import_module(f"peer_{name}").META  # type: ignore[no-any-return]


def python_of(name: str) -> str:
    venv = meta(name)["venv"]
    return (
        str(REPO_DIR / ".venv/bin/python") if venv is None else str(VENVS_DIR / venv / "bin/python")
    )


def url_of(name: str) -> str:
    return f"redis://127.0.0.1:6379/{DB[name]}"


def env_of(name: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(BENCH_RUNTIME="1", BENCH_REDIS_URL=url_of(name), PYTHONPATH=str(PEERS_DIR))
    env.pop("VIRTUAL_ENV", None)
    return env


def flush(name: str) -> redis.Redis:
    db = DB[name]
    assert 1 <= db <= 9
    r = redis.Redis(db=db)
    r.flushdb()
    return r


def version_of(name: str) -> str:
    m = meta(name)
    code = (
        "import importlib.metadata as m, sys\n"
        "print(' + '.join(f'{d} {m.version(d)}' for d in sys.argv[1:]))"
    )
    dists = [m["dist"], *m.get("extra_dists", [])]
    out = subprocess.run(
        [python_of(name), "-c", code, *dists], capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or f"? ({out.stderr.strip()[-200:]})"


def driver(name: str, *args: Any, timeout: float = 1800) -> dict[str, Any]:
    cmd = [python_of(name), str(PEERS_DIR / "_driver.py"), name, *map(str, args)]
    out = subprocess.run(
        cmd, cwd=PEERS_DIR, env=env_of(name), capture_output=True, text=True, timeout=timeout
    )
    if out.returncode != 0:
        raise RuntimeError(f"{name} driver {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def worker_command(name: str) -> list[str]:
    py = python_of(name)
    return [
        part.format(python=py, bin=str(Path(py).parent), url=url_of(name))
        for part in meta(name)["worker"]
    ]


def start_worker(name: str, log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        worker_command(name),
        cwd=PEERS_DIR,
        env=env_of(name),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # leftovers (forked children)


def tree_rss_mb(pid: int) -> tuple[float, int]:
    """VmRSS summed over ``pid`` and its descendants (MB), and how many processes."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, count, todo = 0.0, 0, [pid]
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
                    count += 1
        todo.extend(children.get(p, []))
    return total, count


def done_count(r: redis.Redis, spec: str, baseline: int, n: int) -> int:
    """Finished tasks, from one cheap Redis command or two (see the peers' ``done``)."""
    kind, _, key = spec.partition(":")
    if kind == "zleft":  # a ZSET holding every task until it has finished
        return n - int(r.zcard(key))
    if kind == "lleft":  # a LIST of waiting tasks: counts tasks taken, not finished
        return n - int(r.llen(key))
    if kind == "hleft":  # a HASH holding every message until it is acked (after the task)
        return n - int(r.hlen(key))
    if kind == "dbsize_minus":  # one key per result; minus the library's own fixed keys
        return int(r.dbsize()) - int(r.exists(*key.split(",")))
    if kind == "zcard":
        return int(r.zcard(key))
    if kind == "llen":
        return int(r.llen(key))
    if kind == "hlen":
        return int(r.hlen(key))
    if kind == "dbsize":  # one key per stored result: keys beyond those present after prefill
        return int(r.dbsize()) - baseline
    raise ValueError(spec)


# phases ----------------------------------------------------------------------------------


def phase_enqueue(name: str, args: argparse.Namespace, out: dict[str, Any]) -> None:
    flush(name)
    res = driver(name, "enqueue", args.n)
    out.setdefault("enqueue", []).append(args.n / res["seconds"])


def phase_drain(name: str, args: argparse.Namespace, out: dict[str, Any]) -> None:
    r = flush(name)
    m = meta(name)
    driver(name, "prefill", args.n)
    baseline = int(r.dbsize())
    spec = m["done"]
    assert done_count(r, spec, baseline, args.n) == 0, f"{name}: done count not 0 after prefill"
    log = RESULTS_DIR / "logs" / f"{name}-drain.log"
    proc = start_worker(name, log)
    deadline = time.monotonic() + args.drain_timeout
    first: tuple[float, int] | None = None
    try:
        while True:
            d = done_count(r, spec, baseline, args.n)
            now = time.perf_counter()
            if d > 0 and first is None:
                first = (now, d)
            if d >= args.n:
                break
            if proc.poll() not in (None, 0):
                raise RuntimeError(f"{name}: worker exited at {d}/{args.n}, see {log}")
            if time.monotonic() > deadline:
                if first is None or d <= first[1]:
                    raise RuntimeError(f"{name}: drain stuck at {d}/{args.n}, see {log}")
                out["drain_partial"] = f"stopped after {args.drain_timeout:.0f}s at {d}/{args.n}"
                break
            time.sleep(0.002)
    finally:
        stop_worker(proc)
    assert first is not None
    span = now - first[0]
    out.setdefault("drain", []).append((d - first[1]) / span if span > 0 else float("nan"))
    if m.get("timestamps") and name == "qtasks":
        starts, ends = [], []
        keys = list(r.scan_iter(match="qtasks:bench:{bench:default}:t:*", count=5000))
        pipe = r.pipeline(transaction=False)
        for k in keys:
            pipe.hmget(k, "st", "f")
        for st, f in pipe.execute():
            if st and f:
                starts.append(float(st))
                ends.append(float(f))
        if len(ends) >= args.n:
            out.setdefault("drain_ts", []).append(len(ends) / (max(ends) - min(starts)))


def wait_lat(r: redis.Redis, count: int, timeout: float) -> list[bytes]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if r.llen("bench:lat") >= count:
            break
        time.sleep(0.01)
    return list(r.lrange("bench:lat", 0, -1))


def phase_latency(name: str, args: argparse.Namespace, out: dict[str, Any]) -> None:
    r = flush(name)
    log = RESULTS_DIR / "logs" / f"{name}-latency.log"
    proc = start_worker(name, log)
    try:
        # warm-up: wait until the worker has run one latency task, then let it idle
        warm_deadline = time.monotonic() + 60
        driver(name, "latency", 1, 0)
        while r.llen("bench:lat") < 1:
            if time.monotonic() > warm_deadline or proc.poll() is not None:
                raise RuntimeError(f"{name}: worker never ran the warm-up task, see {log}")
            time.sleep(0.01)
        time.sleep(1.0)
        rss, nprocs = tree_rss_mb(proc.pid)
        out.setdefault("rss", []).append(rss)
        out["rss_procs"] = nprocs
        r.delete("bench:lat")
        sent = driver(name, "latency", args.lat_n, args.gap)["sent"]
        got = wait_lat(r, args.lat_n, 30)
    finally:
        stop_worker(proc)
    starts = {}
    for raw in got:
        i, t = raw.decode().split()
        starts[int(i)] = float(t)
    lat = [(starts[i] - t) * 1000 for i, t in enumerate(sent) if i in starts]
    if len(lat) < args.lat_n:
        out["lat_missing"] = args.lat_n - len(lat)
    out.setdefault("p50", []).append(percentile(lat, 50))
    out.setdefault("p99", []).append(percentile(lat, 99))


PHASE_FUNCS = {"enqueue": phase_enqueue, "drain": phase_drain, "latency": phase_latency}


# setup -----------------------------------------------------------------------------------


def setup_venvs(peers: list[str]) -> None:
    for name in peers:
        m = meta(name)
        if m["venv"] is None:
            continue
        venv = VENVS_DIR / m["venv"]
        if not (venv / "bin/python").exists():
            subprocess.run(["python3.11", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin/pip"), "install", "-q", *m["packages"]], check=True)


# report ----------------------------------------------------------------------------------


def med(values: list[float] | None) -> float | None:
    return statistics.median(values) if values else None


def fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "/s":
        return f"{v:,.0f}/s"
    if unit == "ms":
        return f"{v:,.2f} ms" if v < 100 else f"{v:,.0f} ms"
    return f"{v:,.1f} MB"


def ratio(v: float | None, q: float | None, higher_better: bool) -> str:
    if v is None or q is None or v == 0 or q == 0:
        return ""
    # "x" = how qtasks compares: >1 means qtasks is better
    return f" ({(q / v) if higher_better else (v / q):.2f}x)"


def table(results: dict[str, dict[str, Any]]) -> list[str]:
    q = results.get("qtasks", {})
    cols = [
        ("enqueue", "/s", True, "enqueue"),
        ("drain", "/s", True, "drain"),
        ("p50", "ms", False, "latency p50"),
        ("p99", "ms", False, "latency p99"),
        ("rss", "MB", False, "idle worker RSS"),
    ]
    head = ["library", "version"] + [c[3] for c in cols]
    rows = [head]
    for name, res in results.items():
        row = [meta(name)["label"], res.get("version", "?")]
        if "error" in res and not any(k in res for k in ("enqueue", "drain", "p50")):
            rows.append(
                row + ["failed: " + res["error"].splitlines()[0][:60]] + [""] * (len(cols) - 1)
            )
            continue
        for key, unit, hb, _ in cols:
            v = med(res.get(key))
            cell = fmt(v, unit)
            if name != "qtasks":
                cell += ratio(v, med(q.get(key)), hb)
            row.append(cell)
        rows.append(row)
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * 2 + "---:|" * len(cols)]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return lines


def common_arguments(
    description: str | None,
    *,
    peers: Iterable[str],
    phases: str,
    drain_timeout: float,
    quiet_wait: float,
) -> argparse.ArgumentParser:
    """The options every side-by-side benchmark takes (this one and bench_postgres.py)."""
    p = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=20_000, help="tasks for enqueue and drain")
    p.add_argument("--lat-n", type=int, default=300, help="latency tasks")
    p.add_argument("--gap", type=float, default=0.01, help="seconds between latency tasks")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--peers", default=",".join(peers))
    p.add_argument("--phases", default=phases)
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=drain_timeout,
        help="stop a drain after this many seconds and report its rate so far",
    )
    p.add_argument("--quiet-wait", type=float, default=quiet_wait)
    p.add_argument("--max-other-load", type=float, default=0.25)
    return p


def run_interleaved(
    args: argparse.Namespace,
    peers: list[str],
    phases: list[str],
    results: dict[str, dict[str, Any]],
    run_phase: Callable[[str, str, dict[str, Any]], None],
) -> None:
    """Every run, every phase, every library in turn, so each sees the same machine state;
    each phase waits for a quiet machine first and records how much else ran meanwhile."""
    for run in range(1, args.runs + 1):
        for phase in phases:
            for name in peers:
                res = results[name]
                if res.get("broken"):
                    continue
                if args.quiet_wait > 0:
                    wait_until_quiet(args.max_other_load, args.quiet_wait)
                load = OtherLoad()
                t0 = time.perf_counter()
                try:
                    run_phase(phase, name, res)
                except Exception as exc:
                    res.setdefault("error", f"{phase}: {exc}")
                    print(f"  {name} {phase} FAILED: {exc}", file=sys.stderr)
                share = load.share()
                res["other_load"].append({"run": run, "phase": phase, "share": share})
                print(
                    f"run {run}/{args.runs} {phase:<8} {name:<14} {time.perf_counter() - t0:6.1f}s"
                    + ("" if share is None else f"  other load {share:.0%}")
                    + (" (disturbed)" if share and share > args.max_other_load else ""),
                    file=sys.stderr,
                    flush=True,
                )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = common_arguments(
        __doc__, peers=PEERS, phases="enqueue,drain,latency", drain_timeout=120, quiet_wait=60
    )
    p.add_argument("--setup", action="store_true", help="create the peer venvs and exit")
    p.add_argument("--out", type=Path, default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    peers = [p for p in args.peers.split(",") if p]
    if args.setup:
        setup_venvs(peers)
        return 0
    command = "python bench/bench_redis.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    machine = machine_info()
    machine.pop("sqlite", None)
    machine["redis"] = redis.Redis().info("server")["redis_version"]
    results: dict[str, dict[str, Any]] = {}
    for name in peers:
        results[name] = {
            "version": version_of(name),
            "tuning": meta(name)["tuning"],
            "worker": shlex.join(worker_command(name)),
            "other_load": [],
        }
    run_interleaved(
        args,
        peers,
        args.phases.split(","),
        results,
        lambda phase, name, res: PHASE_FUNCS[phase](name, args, res),
    )
    print()
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
    q = results.get("qtasks", {})
    if q.get("drain_ts"):
        print(f"\nqtasks drain from stored started_at/finished_at: {med(q['drain_ts']):,.0f}/s")
    for name, res in results.items():
        notes = []
        if res.get("drain_partial"):
            notes.append(f"drain {res['drain_partial']} (rate over what ran)")
        if res.get("lat_missing"):
            notes.append(f"{res['lat_missing']} of {args.lat_n} latency tasks never started")
        if res.get("rss_procs", 1) > 1:
            notes.append(f"RSS summed over {res['rss_procs']} processes")
        busy = [
            f"{o['phase']} (run {o['run']}: {o['share']:.0%})"
            for o in res["other_load"]
            if o["share"] is not None and o["share"] > args.max_other_load
        ]
        if busy:
            notes.append("disturbed: " + ", ".join(busy))
        if notes:
            print(f"  note {name}: " + "; ".join(notes))
    print("\nworkers:")
    for name, res in results.items():
        print(
            f"  {name}: {res['worker']}  [{res['tuning']}]"
            + (f"  ERROR {res['error']}" if "error" in res else "")
        )
    if q:
        print("\nqtasks against its targets:")
        for key, label, hb in (
            ("enqueue", "single add_task", True),
            ("drain", "drain", True),
            ("p50", "latency p50", False),
            ("p99", "latency p99", False),
            ("rss", "idle worker RSS", False),
        ):
            v, t = med(q.get(key)), TARGETS[key]
            met = None if v is None else (v >= t if hb else v <= t)
            verdict = {None: "", True: "met", False: "MISSED"}[met]
            shown = "-" if v is None else f"{v:,.3f}"
            print(f"  {label:<16} {shown:>12}  target {'≥' if hb else '≤'} {t}  {verdict}")
    out = (
        args.out
        or RESULTS_DIR
        / f"redis-{machine['commit'].split()[0]}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "machine": machine,
                "command": command,
                "arguments": vars(args),
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "results": results,
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
