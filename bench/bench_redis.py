"""qtasks against its peers on the same local Redis, side by side in one run.

Usage (from the repository root)::

    .venv/bin/python bench/bench_redis.py [--n 20000] [--runs 3] [--task noop|io|both]
        [--peers floor,qtasks,qtasks_async,qtasks_loop,dramatiq,huey,taskiq,...]
    .venv/bin/python bench/bench_redis.py --setup   # create bench/.venvs/<peer> and pip install

Every peer runs in its own venv under ``bench/.venvs/`` (qtasks from this repository and
the floor use ``.venv``); its client side and its tasks live in ``bench/peers/peer_<name>.py``
and are driven by ``bench/peers/_driver.py`` inside that venv. Every library gets the
same Redis server, ONE worker process (see each peer's ``tuning`` note), and its own
logical database (1-9, flushed before each phase; databases 0 and 10-15 are never touched).

``floor`` is no library: one ``RPUSH`` of a small JSON body per enqueue, and a plain
``BLPOP`` loop that runs the task and ``INCR``s a done counter (``peers/peer_floor.py``).
qtasks runs as ``qtasks`` (sync app, sync ``def`` tasks on the worker's thread pool, the
default), ``qtasks_async`` (``qtasks.asyncio.QueueTasks``, ``async def`` tasks) and
``qtasks_loop`` (sync ``def`` tasks with ``executor="loop"``).

Task kinds (``--task``, default both); every phase runs for each:

``noop``
    ``return i``.
``io``
    one Redis ``INCR`` of ``bench:io`` in the peer's own database on a client made once per
    process (``peers/_common.py``: redis-py for sync tasks, ``redis.asyncio`` for async
    ones), then ``return i``: the same body for every library. After the drain the counter
    must equal N.

Phases, per library and task kind, in this order:

``enqueue``
    N single enqueue calls of the task from one process (tasks/s), after one
    warm-up call. The library's idiomatic single-call API (``task.add_task(i)``,
    ``task.delay(i)``, ``q.enqueue(f, i)``, ``await pool.enqueue_job(...)``, …).
``drain``
    N tasks enqueued beforehand (bulk API where the library has one), then
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
    statement RPUSHes its ``time.time()`` to Redis (the io variant then does its INCR);
    the client recorded ``time.time()`` just before the enqueue call. Latency = start -
    enqueue; p50/p99.

Redis server cost per task, for ``enqueue`` (the N + 1 calls, divided by N) and ``drain``
(the worker's start-up, claims, runs, completions and results, divided by N), and their sum
``lifecycle``. Two figures, from ``INFO cpu commandstats`` taken just before and just after
the phase (differences of the server's counters: nothing is reset, so other users of the
server keep their statistics; a ``CONFIG RESETSTAT`` by someone else during a phase shows
as falling counters and voids that phase's figure):

``cpu``
    the Redis main thread's CPU time (``used_cpu_user_main_thread`` +
    ``used_cpu_sys_main_thread``): everything the server did, reading and parsing requests,
    running commands and scripts, writing replies. The primary figure.
``cmd``
    the ``usec`` of ``INFO commandstats``: time inside command implementations only. A
    script's entry (EVAL, EVALSHA, FCALL and their _RO forms) INCLUDES the time of the
    commands it calls, and those commands are ALSO counted under their own names (checked
    on Redis 7.0.15: one EVALSHA running 20,000 INCRs showed ``incr`` usec=2881 and
    ``evalsha`` usec=9787), and nothing tells a nested call from a client's call of the
    same command. So ``cmd`` sums every command EXCEPT the script entries: each command's
    execution counted once, wherever it was called from; the Lua interpreter's own share of
    a script (the script entry minus its nested commands) is in ``cpu`` only. MULTI/EXEC
    does not double count on 7.0 (the queued commands are counted in EXEC only), so EXEC
    stays in. ``INFO`` itself (the harness's snapshots) is left out.

The harness's own polling is subtracted: the done-count poll runs known commands a counted
number of times; for ``cmd`` its share of each such command's usec (polls / calls of that
command) is removed, for ``cpu`` polls x one poll's cost, measured after the drain with the
worker stopped (the least of 3 rounds of 200 back-to-back polls). Redis is shared: other
sessions' commands in other databases during a phase land in both figures. So before
``enqueue`` and ``drain`` the script waits (up to ``--quiet-wait`` s) until Redis spends less
than ``--max-redis-load`` µs of CPU per second on others, samples that rate for 0.3 s before
and after the phase, and notes the phases where others' estimated share (mean rate x
duration) exceeds 10% of the cpu figure; nothing is subtracted for them. The worker's
start-up is in the drain's figure, which matters only for small N.

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
from _common import IO_KEY, KINDS, LATENCY_TASK  # noqa: E402
from bench_sqlite import OtherLoad, machine_info, percentile, wait_until_quiet  # noqa: E402

PEERS = (
    "floor",
    "qtasks",
    "qtasks_async",
    "qtasks_loop",
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
DB = {name: 1 + i % 9 for i, name in enumerate(PEERS)}  # 1..9 (shared in turn), never 0 or 10+
TASK_CHOICES = {"noop": ("noop",), "io": ("io",), "both": KINDS}
#: commands whose commandstats usec includes the commands they call (see the docstring)
SCRIPT_COMMANDS = {"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"}
HARNESS_COMMANDS = {"info"}


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


# the done-count poll -----------------------------------------------------------------------

#: the Redis commands one poll of each ``done`` kind sends (counted, to subtract them)
POLL_COMMANDS: dict[str, tuple[str, ...]] = {
    "zleft": ("zcard",),
    "lleft": ("llen",),
    "hleft": ("hlen",),
    "dbsize_minus": ("dbsize", "exists"),
    "zcard": ("zcard",),
    "llen": ("llen",),
    "hlen": ("hlen",),
    "dbsize": ("dbsize", "exists"),
    "get": ("get",),
}


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
        return int(r.dbsize()) - int(r.exists(*key.split(","), IO_KEY))
    if kind == "zcard":
        return int(r.zcard(key))
    if kind == "llen":
        return int(r.llen(key))
    if kind == "hlen":
        return int(r.hlen(key))
    if kind == "dbsize":  # one key per stored result: keys beyond those present after prefill
        return int(r.dbsize()) - baseline - int(r.exists(IO_KEY))
    if kind == "get":  # a counter the worker increments per finished task
        return int(r.get(key) or 0)
    raise ValueError(spec)


class DonePoll:
    """``done_count`` for one drain, counting the polls it sends."""

    def __init__(self, r: redis.Redis, spec: str, n: int) -> None:
        self.r, self.spec, self.n = r, spec, n
        self.baseline = int(r.dbsize())
        self.polls = 0

    def __call__(self) -> int:
        self.polls += 1
        return done_count(self.r, self.spec, self.baseline, self.n)

    def commands(self) -> dict[str, int]:
        """Calls of each command the polls sent so far."""
        return dict.fromkeys(POLL_COMMANDS[self.spec.partition(":")[0]], self.polls)

    def cost_us(self, rounds: int = 3, k: int = 200) -> float:
        """Redis main-thread CPU of one poll (µs): the least of ``rounds`` x ``k`` polls."""
        costs = []
        for _ in range(rounds):
            before = main_thread_cpu(self.r.info("cpu"))
            for _ in range(k):
                done_count(self.r, self.spec, self.baseline, self.n)
            costs.append((main_thread_cpu(self.r.info("cpu")) - before) / k)
        return min(costs)


# Redis server cost -------------------------------------------------------------------------


def main_thread_cpu(info: dict[str, Any]) -> float:
    """The Redis main thread's CPU time in µs, from ``INFO cpu``."""
    return (info["used_cpu_user_main_thread"] + info["used_cpu_sys_main_thread"]) * 1e6


def server_snapshot(r: redis.Redis) -> dict[str, Any]:
    """``INFO cpu commandstats`` in one call: the counters a phase's cost is taken from."""
    return r.info("cpu", "commandstats")  # type: ignore[no-any-return]


def command_usec(snapshot: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """``{command: (calls, usec)}`` of a snapshot (``cmdstat_config|get`` -> ``config|get``)."""
    return {
        k.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
        for k, v in snapshot.items()
        if k.startswith("cmdstat_")
    }


def server_cost(
    before: dict[str, Any], after: dict[str, Any], poll: DonePoll | None = None
) -> dict[str, float] | None:
    """Server µs spent between two snapshots, minus the harness's polls (``poll``'s calls
    of each command, and its measured main-thread CPU per poll); ``None`` if the counters
    were reset meanwhile. ``cmd`` sums every command but the script entries (see the
    docstring), ``script`` is the script entries' own usec (nested commands included)."""
    polls = poll.commands() if poll else {}
    start, end = command_usec(before), command_usec(after)
    cmd = script = 0.0
    for name, (calls, usec) in end.items():
        calls0, usec0 = start.get(name, (0, 0))
        d_calls, d_usec = calls - calls0, usec - usec0
        if d_calls < 0 or d_usec < 0:
            return None
        if name in HARNESS_COMMANDS or d_calls == 0:
            continue
        ours = min(d_calls, polls.get(name, 0))
        if name in SCRIPT_COMMANDS:
            script += d_usec
        else:
            cmd += d_usec * (1 - ours / d_calls)
    if any(name not in end for name in start):
        return None  # a command vanished: statistics were reset
    cpu = main_thread_cpu(after) - main_thread_cpu(before)
    if poll is not None:
        cpu -= poll.polls * poll.cost_us()
    return {"cpu": cpu, "cmd": cmd, "script": script}


def redis_cpu_rate(r: redis.Redis, seconds: float = 0.3) -> float:
    """The Redis main thread's CPU, µs per second, over ``seconds`` from now."""
    before = main_thread_cpu(r.info("cpu"))
    time.sleep(seconds)
    return (main_thread_cpu(r.info("cpu")) - before) / seconds


class Neighbours:
    """Other users of the shared Redis around one phase: wait (up to ``timeout`` s) for
    their load to fall below ``max_rate`` µs of server CPU per second, sample it before
    and after the phase, and estimate their share of the phase's figure."""

    def __init__(self, r: redis.Redis, max_rate: float, timeout: float) -> None:
        self.r = r
        deadline = time.monotonic() + timeout
        self.before = redis_cpu_rate(r)
        while self.before > max_rate and time.monotonic() < deadline:
            self.before = redis_cpu_rate(r)
        self.t0 = time.monotonic()

    def share_us(self) -> float:
        """Estimated server µs the neighbours used during the phase (mean of the rates)."""
        seconds = time.monotonic() - self.t0
        return (self.before + redis_cpu_rate(self.r)) / 2 * seconds


def record_cost(
    out: dict[str, Any], phase: str, cost: dict[str, float] | None, n: int, others_us: float
) -> None:
    """Append a phase's per-task server µs to ``out[<phase>_<figure>_us]``, and the
    neighbours' estimated share of the cpu figure to ``out[<phase>_others_us]``."""
    if cost is None:
        out.setdefault("server_notes", []).append(f"{phase}: Redis statistics reset meanwhile")
        return
    for figure, us in cost.items():
        out.setdefault(f"{phase}_{figure}_us", []).append(us / n)
    out.setdefault(f"{phase}_others_us", []).append(others_us / n)


# phases ----------------------------------------------------------------------------------


class Phase:
    """One library, one task kind: what every phase function needs."""

    def __init__(self, name: str, kind: str, args: argparse.Namespace) -> None:
        self.name, self.kind, self.args = name, kind, args
        self.m = meta(name)

    def log(self, phase: str) -> Path:
        return RESULTS_DIR / "logs" / f"{self.name}-{self.kind}-{phase}.log"

    def neighbours(self, r: redis.Redis) -> Neighbours:
        return Neighbours(r, self.args.max_redis_load, self.args.quiet_wait)


def phase_enqueue(p: Phase, out: dict[str, Any]) -> None:
    r = flush(p.name)
    others = p.neighbours(r)
    before = server_snapshot(r)
    res = driver(p.name, "enqueue", p.args.n, p.kind)
    cost = server_cost(before, server_snapshot(r))
    record_cost(out, "enqueue", cost, p.args.n, others.share_us())
    out.setdefault("enqueue", []).append(p.args.n / res["seconds"])


def phase_drain(p: Phase, out: dict[str, Any]) -> None:
    n, r = p.args.n, flush(p.name)
    driver(p.name, "prefill", n, p.kind)
    poll = DonePoll(r, p.m["done"], n)
    assert poll() == 0, f"{p.name}: done count not 0 after prefill"
    poll.polls = 0  # from here on, the polls inside the measured window
    log = p.log("drain")
    others = p.neighbours(r)
    before = server_snapshot(r)
    proc = start_worker(p.name, log)
    deadline = time.monotonic() + p.args.drain_timeout
    first: tuple[float, int] | None = None
    try:
        while True:
            d = poll()
            now = time.perf_counter()
            if d > 0 and first is None:
                first = (now, d)
            if d >= n:
                break
            if proc.poll() not in (None, 0):
                raise RuntimeError(f"{p.name}: worker exited at {d}/{n}, see {log}")
            if time.monotonic() > deadline:
                if first is None or d <= first[1]:
                    raise RuntimeError(f"{p.name}: drain stuck at {d}/{n}, see {log}")
                out["drain_partial"] = f"stopped after {p.args.drain_timeout:.0f}s at {d}/{n}"
                break
            time.sleep(0.002)
        after = server_snapshot(r)
    finally:
        stop_worker(proc)
    assert first is not None
    record_cost(out, "drain", server_cost(before, after, poll), d, others.share_us())
    span = now - first[0]
    out.setdefault("drain", []).append((d - first[1]) / span if span > 0 else float("nan"))
    if p.kind == "io" and int(r.get(IO_KEY) or 0) < d:
        out["io_short"] = f"{IO_KEY} = {int(r.get(IO_KEY) or 0)} after {d} io tasks"
    if p.m.get("timestamps"):
        drain_from_timestamps(r, n, out)


def drain_from_timestamps(r: redis.Redis, n: int, out: dict[str, Any]) -> None:
    """qtasks: the rate from the first stored ``started_at`` to the last ``finished_at``."""
    starts, ends = [], []
    keys = list(r.scan_iter(match="qtasks:bench:{bench:default}:t:*", count=5000))
    pipe = r.pipeline(transaction=False)
    for k in keys:
        pipe.hmget(k, "st", "f")
    for st, f in pipe.execute():
        if st and f:
            starts.append(float(st))
            ends.append(float(f))
    if len(ends) >= n:
        out.setdefault("drain_ts", []).append(len(ends) / (max(ends) - min(starts)))


def wait_lat(r: redis.Redis, count: int, timeout: float) -> list[bytes]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if r.llen("bench:lat") >= count:
            break
        time.sleep(0.01)
    return list(r.lrange("bench:lat", 0, -1))


def phase_latency(p: Phase, out: dict[str, Any]) -> None:
    r = flush(p.name)
    log = p.log("latency")
    task = LATENCY_TASK[p.kind]
    proc = start_worker(p.name, log)
    try:
        # warm-up: wait until the worker has run one latency task, then let it idle
        warm_deadline = time.monotonic() + 60
        driver(p.name, "latency", 1, 0, task)
        while r.llen("bench:lat") < 1:
            if time.monotonic() > warm_deadline or proc.poll() is not None:
                raise RuntimeError(f"{p.name}: worker never ran the warm-up task, see {log}")
            time.sleep(0.01)
        time.sleep(1.0)
        rss, nprocs = tree_rss_mb(proc.pid)
        out.setdefault("rss", []).append(rss)
        out["rss_procs"] = nprocs
        r.delete("bench:lat")
        sent = driver(p.name, "latency", p.args.lat_n, p.args.gap, task)["sent"]
        got = wait_lat(r, p.args.lat_n, 30)
    finally:
        stop_worker(proc)
    starts = {}
    for raw in got:
        i, t = raw.decode().split()
        starts[int(i)] = float(t)
    lat = [(starts[i] - t) * 1000 for i, t in enumerate(sent) if i in starts]
    if len(lat) < p.args.lat_n:
        out["lat_missing"] = p.args.lat_n - len(lat)
    out.setdefault("p50", []).append(percentile(lat, 50))
    out.setdefault("p99", []).append(percentile(lat, 99))


PHASE_FUNCS = {"enqueue": phase_enqueue, "drain": phase_drain, "latency": phase_latency}


def kinds_of(name: str) -> tuple[str, ...]:
    """The task kinds a peer module provides (older peers: only the no-op)."""
    return tuple(meta(name).get("kinds", ("noop",)))


def run_phase(label: str, name: str, res: dict[str, Any], args: argparse.Namespace) -> None:
    """``label`` is ``phase/kind``; results go to ``res[kind]``."""
    phase, _, kind = label.partition("/")
    if kind not in kinds_of(name):
        res.setdefault(kind, {})["skipped"] = f"peer_{name}.py has no {kind} task"
        return
    out = res.setdefault(kind, {})
    try:
        PHASE_FUNCS[phase](Phase(name, kind, args), out)
    except Exception as exc:
        out.setdefault("error", f"{phase}: {exc}")
        raise


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
    if unit == "us":
        return f"{v:,.1f}"
    return f"{v:,.1f} MB"


def ratio(v: float | None, q: float | None, higher_better: bool) -> str:
    if v is None or q is None or v == 0 or q == 0:
        return ""
    # "x" = how qtasks compares: >1 means qtasks is better
    return f" ({(q / v) if higher_better else (v / q):.2f}x)"


def lifecycle(res: dict[str, Any], figure: str) -> float | None:
    """Median enqueue + median drain server µs per task of ``figure`` (cpu, cmd, script)."""
    parts = [med(res.get(f"{phase}_{figure}_us")) for phase in ("enqueue", "drain")]
    return None if None in parts else sum(p for p in parts if p is not None)


#: (key, unit, higher is better, heading); a key ``life_<figure>`` is enqueue + drain
SPEED_COLUMNS = (
    ("enqueue", "/s", True, "enqueue"),
    ("drain", "/s", True, "drain"),
    ("p50", "ms", False, "latency p50"),
    ("p99", "ms", False, "latency p99"),
    ("rss", "MB", False, "idle worker RSS"),
)
SERVER_COLUMNS = (
    ("enqueue_cpu_us", "us", False, "enqueue cpu"),
    ("drain_cpu_us", "us", False, "drain cpu"),
    ("life_cpu", "us", False, "lifecycle cpu"),
    ("enqueue_cmd_us", "us", False, "enqueue cmd"),
    ("drain_cmd_us", "us", False, "drain cmd"),
    ("life_cmd", "us", False, "lifecycle cmd"),
    ("life_script", "us", False, "of which in scripts"),
)


def figure(res: dict[str, Any], key: str) -> float | None:
    if key.startswith("life_"):
        return lifecycle(res, key.removeprefix("life_"))
    return med(res.get(key))


def table(
    results: dict[str, dict[str, Any]],
    kind: str,
    cols: tuple[tuple[str, str, bool, str], ...] = SPEED_COLUMNS,
) -> list[str]:
    """A markdown table of ``kind``'s figures, one row per library, ratios against qtasks."""
    q = results.get("qtasks", {}).get(kind, {})
    rows = [["library", "version"] + [c[3] for c in cols]]
    for name, peer in results.items():
        res = peer.get(kind, {})
        row = [meta(name)["label"], peer.get("version", "?")]
        failed = res.get("skipped") or (
            "failed: " + res["error"].splitlines()[0][:60] if "error" in res else None
        )
        if failed and not any(figure(res, c[0]) is not None for c in cols):
            rows.append(row + [failed] + [""] * (len(cols) - 1))
            continue
        for key, unit, hb, _ in cols:
            v = figure(res, key)
            cell = fmt(v, unit)
            if name != "qtasks" and key != "life_script":
                cell += ratio(v, figure(q, key), hb)
            row.append(cell)
        rows.append(row)
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * 2 + "---:|" * len(cols)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows[1:]]


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


KIND_TITLES = {
    "noop": "no-op task (return i)",
    "io": f"io task (one Redis INCR of {IO_KEY}, then return i)",
}


def report_kind(results: dict[str, dict[str, Any]], kind: str, args: argparse.Namespace) -> None:
    """The speed table, the server-cost table and the notes of one task kind."""
    print(f"\n### {KIND_TITLES[kind]}\n")
    for line in table(results, kind):
        print(line)
    print(
        "\nRedis server µs per task (cpu: main-thread CPU; cmd: commandstats usec of every"
        " command but script entries; scripts: EVAL/EVALSHA/FCALL usec, nested commands"
        " included; the harness's polls subtracted; see the docstring)\n"
    )
    for line in table(results, kind, SERVER_COLUMNS):
        print(line)
    for name, peer in results.items():
        notes = kind_notes(peer.get(kind, {}), args)
        busy = [
            f"{o['phase']} (run {o['run']}: {o['share']:.0%})"
            for o in peer["other_load"]
            if o["phase"].endswith(f"/{kind}") and (o["share"] or 0) > args.max_other_load
        ]
        if busy:
            notes.append("disturbed: " + ", ".join(busy))
        if notes:
            print(f"  note {name}: " + "; ".join(notes))


def kind_notes(res: dict[str, Any], args: argparse.Namespace) -> list[str]:
    notes = list(res.get("server_notes", []))
    for phase in ("enqueue", "drain"):
        others, cpu = med(res.get(f"{phase}_others_us")), med(res.get(f"{phase}_cpu_us"))
        if others is not None and cpu and others > 0.1 * cpu:
            notes.append(f"Redis shared: ~{others:,.1f} of {phase}'s {cpu:,.1f} cpu µs/task")
    if res.get("drain_ts"):
        notes.append(f"drain from stored started_at/finished_at {med(res['drain_ts']):,.0f}/s")
    if res.get("drain_partial"):
        notes.append(f"drain {res['drain_partial']} (rate over what ran)")
    if res.get("io_short"):
        notes.append(f"io task short: {res['io_short']}")
    if res.get("lat_missing"):
        notes.append(f"{res['lat_missing']} of {args.lat_n} latency tasks never started")
    if res.get("rss_procs", 1) > 1:
        notes.append(f"RSS summed over {res['rss_procs']} processes")
    if res.get("error"):
        notes.append(f"ERROR {res['error'].splitlines()[0][:200]}")
    return notes


def report_workers(results: dict[str, dict[str, Any]]) -> None:
    print("\nworkers:")
    for name, res in results.items():
        print(f"  {name}: {res['worker']}  [{res['tuning']}]")


def target_lines(
    q: dict[str, Any], checks: Iterable[tuple[str, str, bool]], targets: dict[str, float]
) -> list[str]:
    """One line per ``(key, label, higher is better)``: qtasks' median against its target."""
    lines = []
    for key, label, hb in checks:
        v, t = med(q.get(key)), targets[key]
        met = None if v is None else (v >= t if hb else v <= t)
        verdict = {None: "", True: "met", False: "MISSED"}[met]
        shown = "-" if v is None else f"{v:,.3f}"
        lines.append(f"  {label:<16} {shown:>12}  target {'≥' if hb else '≤'} {t}  {verdict}")
    return lines


TARGET_CHECKS = (
    ("enqueue", "single add_task", True),
    ("drain", "drain", True),
    ("p50", "latency p50", False),
    ("p99", "latency p99", False),
    ("rss", "idle worker RSS", False),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = common_arguments(
        __doc__, peers=PEERS, phases="enqueue,drain,latency", drain_timeout=120, quiet_wait=60
    )
    p.add_argument(
        "--task", choices=sorted(TASK_CHOICES), default="both", help="task kind(s) to run"
    )
    p.add_argument(
        "--max-redis-load",
        type=float,
        default=20_000,
        help="before enqueue and drain, wait (up to --quiet-wait s) until other clients use"
        " less than this many µs of Redis CPU per second (idle Redis: about 2,000)",
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
    kinds = TASK_CHOICES[args.task]
    labels = [f"{phase}/{kind}" for phase in args.phases.split(",") for kind in kinds]
    run_interleaved(
        args, peers, labels, results, lambda label, name, res: run_phase(label, name, res, args)
    )
    print()
    for key, value in machine.items():
        print(f"{key + ':':<15}{value}")
    print(f"{'command:':<15}{command}")
    print(
        f"{'N:':<15}{args.n} (latency: {args.lat_n} tasks, {args.gap * 1000:.0f} ms apart); "
        f"medians of {args.runs} runs"
    )
    print("ratios: (Nx) = qtasks' figure relative to the peer's, >1 means qtasks is better")
    for kind in kinds:
        report_kind(results, kind, args)
    report_workers(results)
    q = results.get("qtasks", {}).get("noop", {})
    if q:
        print("\nqtasks (no-op task) against its targets:")
        print("\n".join(target_lines(q, TARGET_CHECKS, TARGETS)))
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
