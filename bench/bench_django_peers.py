"""Django Tasks backends side by side, in one run: qtasks' ``QTasksBackend`` on Redis next to
threadmill, django-tasks-rq and django-tasks-db, on Django 6.1 / Python 3.12, and next to
qtasks without Django (``plain``), the yardstick of the Django path's overhead.

Usage (from the repository root)::

    python3.12 bench/bench_django_peers.py --setup        # venvs under bench/.venvs/, database
    bench/.venvs/dj-qtasks/bin/python bench/bench_django_peers.py [--n 20000] [--runs 3]
        [--only qtasks,plain,threadmill] [--phases enqueue,drain,latency] [--task noop|io|both]

(``python3.12`` being Python 3.12, e.g. ``PYENV_VERSION=3.12.1 python3.12``; a 3.12 without
redis-py hands the installs to the repository's ``.venv``.) Every backend is a small Django
project in ``bench/djpeers/`` (``benchsite.settings_<name>``) with the same application,
``benchtasks.tasks``: Django's own ``@task`` around the bodies below. Each runs in its own
venv (``bench/.venvs/dj-<name>``, pinned versions from PyPI, listed in
``bench/djpeers/peer_dj_<name>.py`` with its worker command and its finished-task count).
The venvs are made by ``bench_redis.setup_venvs`` (the Redis benchmark's helper), after this
script created them with Python 3.12 (once per venv: ``plain`` shares ``dj-qtasks``). Redis
databases: 9 for qtasks, 10 for plain, 8 for threadmill and django-tasks-rq (each phase first
deletes the keys of the backend it measures, by prefix: ``qtasks:*``, ``qtasks:plain:*``,
``threadmill:*``, ``rq:*``, and ``bench:io``; nothing is flushed).
django-tasks-db uses PostgreSQL (``bench_dtdb`` on 127.0.0.1:5432, user
postgres), truncated before each phase.

``plain`` (``peer_dj_plain.py``) is a plain ``qtasks.QueueTasks`` app (``djpeers/plainapp.py``)
with the same four task bodies (``benchtasks.tasks``' functions, registered as sync qtasks
tasks), sent with ``task.add_task(i)`` one at a time and run by ``python -m qtasks -A
plainapp:app run`` with its default concurrency, in the qtasks venv: the Django path (the
``qtasks`` row) against it is issue #16's ratio (goal: drain >= 0.9x plain's), printed with
the verdicts for enqueue and drain.

qtasks is measured from a clean export of a commit (``--qtasks-ref``, default HEAD: ``git
archive`` into ``/tmp/qtasks-<commit>/src``, put first on the workers' and clients'
``PYTHONPATH``, for ``qtasks`` and ``plain`` alike), because other sessions edit the work tree
while this runs. ``--qtasks-ref worktree`` measures the checkout as it is.

Task kinds (``--task``, default both), as ``bench_redis.py``'s; every phase runs for each:

``noop``
    ``return i``.
``io``
    one Redis ``INCR`` of ``bench:io`` in the backend's bench Redis database
    (``BENCH_REDIS_URL``, the one the latency probe uses; django-tasks-db's too), on a
    redis-py client made once per process, then ``return i``. After the drain ``bench:io``
    must equal the number of tasks drained (N + 1).

Phases, per backend, task kind and run (the backends' order rotates from run to run):

``enqueue``
    ``<task>.enqueue(i)`` x N from one process, sync API, after one untimed warm-up call
    → enqueues/s. Then the broker's (or table's) count of waiting tasks must be N + 1.
``drain``
    Those N + 1 tasks (or, without ``enqueue``, N + 1 enqueued untimed), then ONE worker
    process started cold (its command in the peer module). A watcher in the backend's venv
    polls a cheap finished count (ZCARD of a finished set, or a COUNT over the table) and
    reports (finished at the last poll - finished at the first poll that saw progress) /
    (time between those polls): start-up is excluded. Afterwards every task id is read back
    through the backend's own ``get_result``; the drain counts as complete only if all of
    them are SUCCESSFUL. A drain still running after ``--drain-timeout`` is stopped and its
    rate so far reported, marked as timed out with the count done.
``latency``
    The worker idles (RSS of its process tree read after a warm-up task and 1 s idle);
    ``--lat-n`` tasks ``lat(i)`` (``lat_io(i)`` for io) are sent one at a time, ``--gap`` s
    apart. The task's first statement RPUSHes ``time.time()`` to Redis (the io variant then
    does its INCR); the client took ``time.time()`` just before
    ``.enqueue()``. p50 / p99 of start - enqueue.

Redis server µs per task, for the backends on Redis (qtasks, threadmill, django-tasks-rq;
django-tasks-db's broker is PostgreSQL: "n/a"): ``enqueue`` (the N + 1 calls, divided by N),
``drain`` (the worker's start-up, claims, runs, completions and results, divided by the
tasks finished) and their sum ``lifecycle``, measured with ``bench_redis.py``'s functions
(see its docstring): ``cpu``, the Redis main thread's CPU (``INFO cpu``), and ``cmd``, the
``INFO commandstats`` usec of every command but the script entries (whose usec includes the
commands they call, also counted under their own names), both from differences of the
counters before and after the phase. The drain watcher's polls are subtracted: it reports
how many it sent (each the commands in the peer's ``poll_commands``), and one poll's CPU is
measured after the drain with the worker stopped, from the backend's venv (the least of 3
rounds of 200). Before ``enqueue`` and ``drain`` the script waits (up to ``--quiet-wait`` s)
until other clients use less than ``--max-redis-load`` µs of Redis CPU per second, and notes
phases where their estimated share exceeds 10% of the cpu figure.

Figures are medians over ``--runs``; ratios are qtasks relative to the peer (> 1 means
qtasks is better; in the plain row: the Django path relative to the plain app). The JSON and
a markdown table go to ``bench/results/`` (gitignored). Before each phase the script waits
for a quiet machine; the CPU other processes used during a phase (machine busy time minus
this script's process tree, Redis and PostgreSQL) is recorded and phases above
``--max-other-load`` are flagged.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from bench_redis import DonePoll

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DJ_DIR = BENCH_DIR / "djpeers"
VENVS_DIR = BENCH_DIR / ".venvs"
RESULTS_DIR = BENCH_DIR / "results"
PYTHON312 = "/root/.pyenv/versions/3.12.1/bin/python"
PG_DB = "bench_dtdb"
PG = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]
sys.path[:0] = [str(BENCH_DIR), str(DJ_DIR), str(BENCH_DIR / "peers")]  # + _common

PEERS = ("qtasks", "plain", "threadmill", "rq", "db")
ALLOWED_REDIS_DBS = (8, 9, 10)
#: issue #5: drain >= 3x threadmill's, enqueue at least threadmill's
TARGETS = {"drain": 3.0, "enqueue": 1.0}
#: issue #16: the Django path's drain >= 0.9x the plain app's (enqueue: no target)
PLAIN_TARGETS = {"drain": 0.9}


def meta(name: str) -> dict[str, Any]:
    return importlib.import_module(f"peer_dj_{name}").META  # type: ignore[no-any-return]


def measures_qtasks(name: str) -> bool:
    """Whether the backend runs this repository's qtasks (``qtasks``, ``plain``): its
    processes get the measured source (``--qtasks-ref``) first on ``PYTHONPATH``."""
    return meta(name)["dist"] == "qtasks"


def python_of(name: str) -> str:
    return str(VENVS_DIR / meta(name)["venv"] / "bin/python")


def redis_url(name: str) -> str:
    db = meta(name)["redis_db"]
    assert db in ALLOWED_REDIS_DBS, db
    return f"redis://127.0.0.1:6379/{db}"


# the qtasks source measured ------------------------------------------------------------


def qtasks_source(ref: str) -> tuple[Path, str]:
    """The ``src`` directory to measure qtasks from, and a label (commit + source hash)."""
    if ref == "worktree":
        src = REPO_DIR / "src"
        commit = git("rev-parse", "--short", "HEAD")
        if git("status", "--porcelain", "--", "src"):
            commit += " + uncommitted src/ changes"
    else:
        commit = git("rev-parse", "--short", ref)
        root = Path(f"/tmp/qtasks-{commit}")
        src = root / "src"
        if not (src / "qtasks").is_dir():
            root.mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(
                ["git", "-C", str(REPO_DIR), "archive", commit, "src"],
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    return src, f"{commit}, source hash {source_hash(src / 'qtasks')}"


def git(*args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(REPO_DIR), *args], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def source_hash(package: Path) -> str:
    """As ``bench_sqlite.source_digest``: the package's .py/.sql/.lua files."""
    digest = hashlib.sha256()
    for file in sorted(package.rglob("*")):
        if file.suffix in (".py", ".sql", ".lua"):
            digest.update(file.relative_to(package).as_posix().encode() + b"\0")
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


# processes ------------------------------------------------------------------------------


class Env:
    """Environment of one backend's clients and worker."""

    def __init__(self, qtasks_src: Path) -> None:
        self.qtasks_src = qtasks_src

    def of(self, name: str) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("VIRTUAL_ENV", None)
        env.pop("PYTHONPATH", None)
        env.update(
            DJANGO_SETTINGS_MODULE=meta(name)["settings"],
            BENCH_REDIS_URL=redis_url(name),
            BENCH_PG_DB=PG_DB,
            PYTHONUNBUFFERED="1",
        )
        if measures_qtasks(name):
            env["PYTHONPATH"] = str(self.qtasks_src)
        return env


def driver(env: Env, name: str, *args: Any, timeout: float = 600) -> dict[str, Any]:
    """Run one action of ``djpeers/_driver.py`` in the backend's venv; its JSON answer."""
    cmd = [python_of(name), str(DJ_DIR / "_driver.py"), f"dj_{name}", *map(str, args)]
    out = subprocess.run(
        cmd, cwd=DJ_DIR, env=env.of(name), capture_output=True, text=True, timeout=timeout
    )
    if out.returncode != 0:
        raise RuntimeError(f"{name} driver {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def worker_command(name: str, wrapper: str) -> list[str]:
    cmd = [part.format(python=python_of(name)) for part in meta(name)["worker"]]
    return shlex.split(wrapper) + cmd if wrapper else cmd


def start_worker(env: Env, name: str, log: Path, wrapper: str = "") -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        worker_command(name, wrapper),
        cwd=DJ_DIR,
        env=env.of(name),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stop_worker ends only it
    )


# machine load --------------------------------------------------------------------------

_SERVICES = ("redis-server", "postgres")


def _proc_stat(pid_dir: Path) -> tuple[str, float, int] | None:
    """(command name, CPU seconds used, parent pid) of one process."""
    try:
        raw = (pid_dir / "stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return comm, cpu, int(fields[1])


def _ours(pid_dir: Path) -> bool:
    """Redis, and PostgreSQL's own processes or backends of this benchmark's database (not
    the backends other sessions' tests use)."""
    try:
        cmdline = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    if "postgres:" not in cmdline or "(" not in cmdline:  # redis, or not a client backend
        return True
    return f" {PG_DB} " in cmdline


class PhaseLoad:
    """CPU that other processes used during a phase, as a share of all CPUs.

    Machine busy time (``/proc/stat``) minus this process' and its waited-for children's
    CPU (``os.times``), minus Redis' and PostgreSQL's (the servers being measured; for
    PostgreSQL its own processes and the backends connected to ``bench_dtdb``): their
    processes are sampled every 0.2 s so that a PostgreSQL backend that ends before the
    phase does is still subtracted (up to its last 0.2 s). Kernel threads are subtracted
    too: journaling and writing back the database's per-task commits runs there. Interrupt
    time is left out of busy time (loopback traffic to Redis is softirq work). Redis' CPU
    and the kernel's include any other session's use of them.
    """

    def __init__(self) -> None:
        self._seen: dict[int, tuple[float, float]] = {}  # pid -> (first cpu, last cpu)
        self._stop = threading.Event()
        self._sample_services()
        self._start = self._machine()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _sample_services(self) -> None:
        for pid_dir in Path("/proc").glob("[0-9]*"):
            stat = _proc_stat(pid_dir)
            if stat is None:
                continue
            kernel = pid_dir.name == "2" or stat[2] == 2
            if not kernel and not (stat[0].startswith(_SERVICES) and _ours(pid_dir)):
                continue
            pid = int(pid_dir.name)
            first = self._seen.get(pid, (stat[1], stat[1]))[0]
            self._seen[pid] = (first, stat[1])

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            self._sample_services()

    @staticmethod
    def _machine() -> tuple[float, float, float]:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        user, nice, system = (int(v) for v in fields[:3])
        busy = (user + nice + system) / os.sysconf("SC_CLK_TCK")
        t = os.times()
        return busy, t.user + t.system + t.children_user + t.children_system, time.monotonic()

    def share(self) -> float:
        self._stop.set()
        self._thread.join()
        self._sample_services()
        end = self._machine()
        services = sum(last - first for first, last in self._seen.values())
        busy, own = end[0] - self._start[0], end[1] - self._start[1]
        capacity = (end[2] - self._start[2]) * (os.cpu_count() or 1)
        return max(0.0, busy - own - services) / capacity if capacity > 0 else 0.0


# phases --------------------------------------------------------------------------------


class Phase:
    """What the phases of one backend and task kind share within one run."""

    def __init__(
        self, env: Env, name: str, args: argparse.Namespace, run: int, kind: str = "noop"
    ) -> None:
        self.env, self.name, self.args, self.run, self.kind = env, name, args, run, kind
        self.ids = RESULTS_DIR / "djpeers" / f"ids-{name}.txt"
        self.ids.parent.mkdir(parents=True, exist_ok=True)
        self.enqueued = False
        self._redis: Any = None

    @property
    def redis(self) -> Any:
        """A client of the backend's bench Redis database (``BENCH_REDIS_URL``)."""
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(redis_url(self.name))
        return self._redis

    def call(self, *args: Any, timeout: float = 600) -> dict[str, Any]:
        return driver(self.env, self.name, *args, timeout=timeout)

    def popen(self, *args: Any) -> subprocess.Popen[str]:
        """A driver action left running, talking over pipes (its first line: ``ready``)."""
        proc = subprocess.Popen(
            [python_of(self.name), str(DJ_DIR / "_driver.py"), f"dj_{self.name}", *map(str, args)],
            cwd=DJ_DIR,
            env=self.env.of(self.name),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            proc.kill()
            raise RuntimeError(f"{args[0]} failed: {proc.communicate()[1][-2000:]}")
        return proc

    def enqueue(self) -> dict[str, Any]:
        return self.call(
            "enqueue", self.args.n, self.ids, self.kind, timeout=self.args.enqueue_timeout
        )

    def log(self, phase: str) -> Path:
        return RESULTS_DIR / "djpeers" / f"{self.name}-{self.kind}-{phase}-run{self.run}.log"


def on_redis(name: str) -> bool:
    """Whether the backend's broker is the Redis server (its server cost is measured)."""
    return meta(name)["poll_commands"] is not None


class ServerCost:
    """The Redis server's cost of one phase, with ``bench_redis.py``'s functions: other
    clients' load waited for (``--max-redis-load``) and sampled, ``INFO cpu commandstats``
    before and after. Does nothing for a backend not on Redis."""

    def __init__(self, p: Phase) -> None:
        from bench_redis import Neighbours

        self.p = p
        self.on = on_redis(p.name)
        if self.on:
            self.neighbours = Neighbours(p.redis, p.args.max_redis_load, p.args.quiet_wait)

    def snapshot(self) -> dict[str, Any] | None:
        from bench_redis import server_snapshot

        return server_snapshot(self.p.redis) if self.on else None

    def record(
        self,
        out: dict[str, Any],
        phase: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        n: int,
        polls: int | None = None,
    ) -> None:
        """Per-task µs of ``phase`` into ``out`` (``record_cost``), minus ``polls`` polls
        of the drain watcher."""
        from bench_redis import record_cost, server_cost

        if not self.on or before is None or after is None:
            return
        others = self.neighbours.share_us()
        watcher = None if polls is None else WatcherPolls(self.p, polls)
        record_cost(out, phase, server_cost(before, after, cast("DonePoll", watcher)), n, others)
        if watcher is not None and watcher.cost is not None:  # subtracted: polls x cost
            out.setdefault(f"{phase}_polls", []).append(polls)
            out.setdefault(f"{phase}_poll_cpu_us", []).append(watcher.cost)


class WatcherPolls:
    """The drain watcher's polls for ``bench_redis.server_cost`` (as its ``DonePoll``): they
    ran in the backend's venv, which also measures one poll's cost."""

    def __init__(self, p: Phase, polls: int) -> None:
        self.p, self.polls = p, polls
        self.cost: float | None = None

    def commands(self) -> dict[str, int]:
        return {c: k * self.polls for c, k in meta(self.p.name)["poll_commands"].items()}

    def cost_us(self, rounds: int = 3, k: int = 200) -> float:
        """Redis main-thread CPU of one poll (µs): the least of ``rounds`` x ``k`` polls."""
        from bench_redis import main_thread_cpu

        proc = self.p.popen("pollcost", k)
        assert proc.stdin is not None and proc.stdout is not None
        costs = []
        try:
            for _ in range(rounds):
                before = main_thread_cpu(self.p.redis.info("cpu"))
                proc.stdin.write("go\n")
                proc.stdin.flush()
                proc.stdout.readline()
                costs.append((main_thread_cpu(self.p.redis.info("cpu")) - before) / k)
        finally:
            proc.communicate(timeout=60)
        self.cost = min(costs)
        return self.cost


def phase_enqueue(p: Phase, out: dict[str, Any]) -> None:
    p.call("reset")
    cost = ServerCost(p)
    before = cost.snapshot()
    try:
        res = p.enqueue()
    except subprocess.TimeoutExpired:
        out.setdefault("enqueue_timeout", []).append(p.run)
        raise RuntimeError(f"enqueue not finished within {p.args.enqueue_timeout:.0f}s") from None
    cost.record(out, "enqueue", before, cost.snapshot(), p.args.n)
    if res["queued"] != p.args.n + 1:
        raise RuntimeError(f"enqueue: {res['queued']} tasks waiting, expected {p.args.n + 1}")
    out.setdefault("enqueue", []).append(p.args.n / res["seconds"])
    p.enqueued = True


def phase_drain(p: Phase, out: dict[str, Any]) -> None:
    args = p.args
    if not p.enqueued:  # prefill, untimed: the same calls as the enqueue phase
        p.call("reset")
        res = p.enqueue()
        if res["queued"] != args.n + 1:
            raise RuntimeError(f"prefill: {res['queued']} tasks waiting, expected {args.n + 1}")
    p.enqueued = False
    expected = args.n + 1
    cost = ServerCost(p)
    watcher = p.popen("watch", expected, args.drain_timeout, meta(p.name)["poll"])
    log = p.log("drain")
    before = cost.snapshot()
    launched = time.time()
    proc = start_worker(p.env, p.name, log, p.args.worker_wrapper if p.name in p.args.wrap else "")
    try:
        stdout, stderr = watcher.communicate(timeout=args.drain_timeout + 60)
        after = cost.snapshot()
    finally:
        stop_worker(proc)
        if watcher.poll() is None:
            watcher.kill()
    if watcher.returncode != 0:
        raise RuntimeError(f"watcher failed: {stderr[-2000:]}")
    res = json.loads(stdout.strip().splitlines()[-1])
    if res["first"] is None:
        raise RuntimeError(f"no task finished within {args.drain_timeout:.0f}s, see {log}")
    (t0, d0), (t1, d1) = res["first"], res["last"]
    cost.record(out, "drain", before, after, d1, res["polls"])
    out.setdefault("drain", []).append((d1 - d0) / (t1 - t0) if t1 > t0 else float("nan"))
    out.setdefault("drain_wall", []).append(d1 / (t1 - launched))
    out.setdefault("drain_start_ms", []).append((t0 - launched) * 1000)
    statuses = p.call("verify", p.ids, timeout=900)
    out.setdefault("drain_verified", []).append(statuses)
    if res["timed_out"]:
        out.setdefault("drain_partial", []).append(
            f"run {p.run}: stopped after {args.drain_timeout:.0f}s with {d1:,} of {expected:,} "
            "finished"
        )
    elif statuses.get("SUCCESSFUL") != expected or res["failed"]:
        raise RuntimeError(f"drain incomplete: {statuses}, {res['failed']} failed")
    if p.kind == "io":
        from _common import IO_KEY

        count = int(p.redis.get(IO_KEY) or 0)
        if count < d1 or (count != expected and not res["timed_out"]):
            raise RuntimeError(f"io drain: {IO_KEY} = {count} after {d1:,} of {expected:,} tasks")
        out.setdefault("io_count", []).append(count)


def phase_latency(p: Phase, out: dict[str, Any]) -> None:
    from _common import LATENCY_TASK

    args, r, task = p.args, p.redis, LATENCY_TASK[p.kind]
    p.call("reset")
    r.delete("bench:djlat")
    log = p.log("latency")
    proc = start_worker(p.env, p.name, log)
    try:
        p.call("latency", 1, 0, task)  # warm-up: wait until the worker ran it, then let it idle
        deadline = time.monotonic() + 60
        while r.llen("bench:djlat") < 1:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the worker never ran the warm-up task, see {log}")
            time.sleep(0.01)
        time.sleep(1.0)
        rss, nprocs = tree_rss_mb(proc.pid)
        out.setdefault("rss", []).append(rss)
        out["rss_procs"] = nprocs
        r.delete("bench:djlat")
        timeout = args.lat_n * args.gap + 120
        sent = p.call("latency", args.lat_n, args.gap, task, timeout=timeout)["sent"]
        deadline = time.monotonic() + args.latency_timeout
        while r.llen("bench:djlat") < args.lat_n and time.monotonic() < deadline:
            time.sleep(0.01)
        got = list(r.lrange("bench:djlat", 0, -1))
    finally:
        stop_worker(proc)
    starts = {}
    for raw in got:
        i, t = raw.decode().split()
        starts[int(i)] = float(t)
    lat = [(starts[i] - t) * 1000 for i, t in enumerate(sent) if i in starts]
    if len(lat) < args.lat_n:
        out.setdefault("lat_missing", []).append(args.lat_n - len(lat))
    if lat:
        out.setdefault("p50", []).append(percentile(lat, 50))
        out.setdefault("p99", []).append(percentile(lat, 99))


PHASE_FUNCS: dict[str, Callable[[Phase, dict[str, Any]], None]] = {
    "enqueue": phase_enqueue,
    "drain": phase_drain,
    "latency": phase_latency,
}


# helpers shared with the other benchmarks (imported late: see main) ----------------------


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    from bench_redis import stop_worker as stop

    stop(proc)


def tree_rss_mb(pid: int) -> tuple[float, int]:
    from bench_redis import tree_rss_mb as rss

    total, count = rss(pid)
    return float(total), int(count)


def percentile(values: list[float], q: float) -> float:
    from bench_sqlite import percentile as pct

    return float(pct(values, q))


# setup ---------------------------------------------------------------------------------


def setup(peers: list[str]) -> None:
    """Create the venvs with Python 3.12, install them with ``bench_redis.setup_venvs``,
    create the PostgreSQL database and migrate it."""
    for name in peers:
        venv = VENVS_DIR / meta(name)["venv"]
        if not (venv / "bin/python").exists():
            subprocess.run([PYTHON312, "-m", "venv", str(venv)], check=True)
    try:
        from bench_redis import setup_venvs  # the Redis benchmark's helper: pip installs META
    except ImportError:  # this Python has no redis-py (a bare 3.12): the repository's .venv has
        subprocess.run(
            [str(REPO_DIR / ".venv/bin/python"), __file__, "--setup", "--only", ",".join(peers)],
            check=True,
        )
        return
    installs: dict[str, str] = {}  # venv -> the first peer in it: each venv installed once
    for name in peers:
        installs.setdefault(meta(name)["venv"], name)
    setup_venvs([f"dj_{name}" for name in installs.values()])
    if "db" in peers:
        listed = subprocess.run(
            ["psql", *PG, "-Atc", "SELECT datname FROM pg_database"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if PG_DB not in listed:
            subprocess.run(["createdb", *PG, PG_DB], check=True)
        subprocess.run(
            [python_of("db"), "manage.py", "migrate", "-v", "0"],
            cwd=DJ_DIR,
            env=Env(REPO_DIR / "src").of("db"),
            check=True,
        )


# report --------------------------------------------------------------------------------


def version_of(env: Env, name: str) -> str:
    m = meta(name)
    code = (
        "import importlib.metadata as m, sys\n"
        "print(', '.join(f'{d} {m.version(d)}' for d in sys.argv[1:]))"
    )
    out = subprocess.run(
        [python_of(name), "-c", code, m["dist"], *m.get("extra_dists", [])],
        capture_output=True,
        text=True,
        env=env.of(name),
        check=False,
    )
    return out.stdout.strip() or f"? ({out.stderr.strip()[-200:]})"


def med(values: list[float] | None) -> float | None:
    return statistics.median(values) if values else None


COLUMNS = (
    ("enqueue", "/s", True, "enqueue"),
    ("drain", "/s", True, "drain"),
    ("drain_wall", "/s", True, "drain incl. start"),
    ("p50", "ms", False, "latency p50"),
    ("p99", "ms", False, "latency p99"),
    ("rss", "MB", False, "idle worker RSS"),
)


def table(
    results: dict[str, dict[str, Any]],
    kind: str,
    cols: tuple[tuple[str, str, bool, str], ...] = COLUMNS,
) -> list[str]:
    """A markdown table of ``kind``'s figures, one row per backend, ratios against qtasks;
    Redis server figures (unit ``us``) are "n/a" for a backend not on Redis."""
    from bench_redis import figure, fmt, ratio

    q = results.get("qtasks", {}).get(kind, {})
    rows = [["backend", *(c[3] for c in cols)]]
    for name, peer in results.items():
        res = peer.get(kind, {})
        row = [meta(name)["label"]]
        for key, unit, higher_better, _ in cols:
            if unit == "us" and not on_redis(name):
                row.append("n/a")
                continue
            v = figure(res, key)
            cell = fmt(v, unit)
            if key.startswith("drain") and res.get("drain_partial"):
                cell += " †"
            if name != "qtasks" and key != "life_script":
                cell += ratio(v, figure(q, key), higher_better)
            row.append(cell)
        rows.append(row)
    lines = ["| " + " | ".join(rows[0]) + " |", "|---|" + "---:|" * len(cols)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows[1:]]


def report_kind(results: dict[str, dict[str, Any]], kind: str) -> list[str]:
    """The speed table, the Redis server table and the verdicts of one task kind."""
    from bench_redis import KIND_TITLES, SERVER_COLUMNS

    return [
        f"### {KIND_TITLES[kind]}",
        "",
        *table(results, kind),
        "",
        "Redis server µs per task (cpu: main-thread CPU; cmd: commandstats usec of every"
        " command but script entries; scripts: EVAL/EVALSHA/FCALL usec, nested commands"
        " included; the watcher's polls subtracted; n/a: not on Redis)",
        "",
        *table(results, kind, SERVER_COLUMNS),
        "",
        *verdicts(results, kind),
        "",
    ]


def verdicts(results: dict[str, dict[str, Any]], kind: str = "noop") -> list[str]:
    """qtasks against threadmill (issue #5's targets), then the Django path against the
    plain app (issue #16's), for drain and enqueue."""
    lines = []
    for peer, what, targets in (
        ("threadmill", ("qtasks", "threadmill"), TARGETS),
        ("plain", ("Django path (qtasks)", "plain app"), PLAIN_TARGETS),
    ):
        q, t = results.get("qtasks", {}).get(kind, {}), results.get(peer, {}).get(kind, {})
        for key in ("drain", "enqueue"):
            qv, tv = med(q.get(key)), med(t.get(key))
            if qv is None or tv is None:
                lines.append(f"{key}: not measured for both qtasks and {peer}")
                continue
            ratio, target = qv / tv, targets.get(key)
            per_run = ", ".join(
                f"{a / b:.2f}x" for a, b in zip(q.get(key, []), t.get(key, []), strict=False)
            )
            goal = (
                f"target >= {target:g}x: {'met' if ratio >= target else 'MISSED'}; "
                if target is not None
                else ""
            )
            lines.append(
                f"{key}: {what[0]} {qv:,.0f}/s vs {what[1]} {tv:,.0f}/s = {ratio:.2f}x "
                f"({goal}per run {per_run})"
            )
    return lines


PER_RUN = (
    "enqueue",
    "drain",
    "drain_wall",
    "drain_start_ms",
    "p50",
    "p99",
    "rss",
    "enqueue_cpu_us",
    "drain_cpu_us",
    "enqueue_cmd_us",
    "drain_cmd_us",
    "drain_polls",
    "drain_poll_cpu_us",
    "io_count",
)


def kind_details(
    res: dict[str, Any], kind: str, kind_notes: Callable[..., list[str]], args: argparse.Namespace
) -> list[str]:
    """The per-run figures and notes of one backend and task kind (``kind_notes``:
    ``bench_redis.kind_notes``, given only the Redis server figures)."""
    lines = [
        f"  {kind} {key} per run: " + ", ".join(f"{v:,.1f}" for v in res[key])
        for key in PER_RUN
        if res.get(key)
    ]
    lines += [f"  {kind} get_result after drain: {s}" for s in res.get("drain_verified", [])]
    lines += [f"  † {kind} drain {n} (rate over what ran)" for n in res.get("drain_partial", [])]
    if res.get("lat_missing"):
        lines.append(f"  {kind} latency tasks that never started: {res['lat_missing']}")
    if res.get("rss_procs", 1) > 1:
        lines.append(f"  {kind}: RSS summed over {res['rss_procs']} processes")
    server = {k: v for k, v in res.items() if k.endswith("_us") or k == "server_notes"}
    lines += [f"  {kind} Redis: {note}" for note in kind_notes(server, args)]
    return lines


def machine() -> dict[str, Any]:
    import redis

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    pg = subprocess.run(
        ["psql", *PG, "-Atc", "SHOW server_version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "platform": platform.platform(),
        "python (peers)": subprocess.run(
            [PYTHON312, "-V"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        "redis": redis.Redis().info("server")["redis_version"],
        "postgresql": pg,
        "loadavg at start": Path("/proc/loadavg").read_text().split()[:3],
    }


# main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=20_000, help="tasks for enqueue and drain")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--only", default=",".join(PEERS), help=f"backends, from {','.join(PEERS)}")
    p.add_argument("--phases", default="enqueue,drain,latency")
    p.add_argument("--lat-n", type=int, default=300, help="latency tasks")
    p.add_argument("--gap", type=float, default=0.01, help="seconds between latency tasks")
    p.add_argument("--enqueue-timeout", type=float, default=300, help="seconds, per enqueue")
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=120,
        help="stop a drain after this many seconds and report its rate so far",
    )
    p.add_argument(
        "--latency-timeout", type=float, default=30, help="wait for the latency tasks to start"
    )
    p.add_argument("--qtasks-ref", default="HEAD", help="commit to export, or 'worktree'")
    p.add_argument("--quiet-wait", type=float, default=60)
    p.add_argument("--max-other-load", type=float, default=0.25)
    p.add_argument("--retries", type=int, default=2, help="re-runs of a disturbed phase")
    p.add_argument(
        "--worker-wrapper",
        default="",
        help="prefix for the drain worker command of the backends in --wrap (profiling)",
    )
    p.add_argument("--wrap", default="qtasks", help="backends whose drain worker is wrapped")
    p.add_argument(
        "--task", choices=("both", "io", "noop"), default="both", help="task kind(s) to run"
    )
    p.add_argument(
        "--max-redis-load",
        type=float,
        default=20_000,
        help="before enqueue and drain on Redis, wait (up to --quiet-wait s) until other"
        " clients use less than this many µs of Redis CPU per second",
    )
    p.add_argument("--setup", action="store_true", help="create the venvs and the database, exit")
    p.add_argument("--out", type=Path, default=None, help="JSON file (markdown beside it)")
    args = p.parse_args(argv)
    args.wrap = set(args.wrap.split(","))
    return args


def run_phase(args: argparse.Namespace, state: Phase, res: dict[str, Any], phase: str) -> None:
    """Run one phase after waiting for a quiet machine; while other processes used more
    than ``--max-other-load`` of the CPUs meanwhile, run it again (up to ``--retries``
    times), keeping the figures of the last attempt only, in ``res[<task kind>]``."""
    from bench_sqlite import wait_until_quiet

    label = f"{phase}/{state.kind}"
    for attempt in range(args.retries + 1):
        if args.quiet_wait > 0:
            wait_until_quiet(args.max_other_load, args.quiet_wait)
        load = PhaseLoad()
        t0 = time.perf_counter()
        out: dict[str, Any] = {}
        error = None
        try:
            PHASE_FUNCS[phase](state, out)
        except Exception as exc:
            error = f"run {state.run} {label}: {exc}"
        share = load.share()
        disturbed = share > args.max_other_load
        print(
            f"run {state.run}/{args.runs} {label:<13} {res['label']:<30} "
            f"{time.perf_counter() - t0:6.1f}s  other load {share:.0%}"
            + (" (disturbed)" if disturbed else "")
            + (f"  FAILED: {error.splitlines()[0][:200]}" if error else ""),
            file=sys.stderr,
            flush=True,
        )
        if disturbed and error is None and attempt < args.retries:
            continue
        res["other_load"].append({"run": state.run, "phase": label, "share": round(share, 3)})
        if attempt:
            res.setdefault("retried", []).append(f"{label} (run {state.run}): {attempt}x")
        if error is not None:
            res.setdefault("errors", []).append(error)
        figures = res.setdefault(state.kind, {})
        for key, value in out.items():
            if isinstance(value, list):
                figures.setdefault(key, []).extend(value)
            else:
                figures[key] = value
        return


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    peers = [p for p in args.only.split(",") if p]
    unknown = set(peers) - set(PEERS)
    if unknown:
        raise SystemExit(f"unknown backends {sorted(unknown)}; choose from {PEERS}")
    if args.setup:
        setup(peers)
        return 0
    from bench_redis import TASK_CHOICES, kind_notes

    kinds = TASK_CHOICES[args.task]
    qtasks_src, qtasks_label = qtasks_source(args.qtasks_ref)
    env = Env(qtasks_src)
    command = "bench/bench_django_peers.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    info = machine()
    results: dict[str, dict[str, Any]] = {}
    for name in peers:
        results[name] = {
            "label": meta(name)["label"],
            "version": version_of(env, name)
            + (f" (measured: {qtasks_label})" if measures_qtasks(name) else ""),
            "worker": shlex.join(worker_command(name, "")),
            "tuning": meta(name)["tuning"],
            "other_load": [],
        }
    phases = [ph for ph in ("enqueue", "drain", "latency") if ph in args.phases.split(",")]
    for run in range(1, args.runs + 1):
        shift = (run - 1) % len(peers)
        for name in peers[shift:] + peers[:shift]:
            res = results[name]
            for kind in kinds:
                state = Phase(env, name, args, run, kind)
                for phase in phases:
                    run_phase(args, state, res, phase)
    if qtasks_label != qtasks_source(args.qtasks_ref)[1]:
        print("WARNING: the qtasks source changed during the run", file=sys.stderr)
    report = [f"{k + ':':<17}{v}" for k, v in info.items()]
    report += [
        f"{'command:':<17}{command}",
        f"{'N:':<17}{args.n} (+1 warm-up task; latency: {args.lat_n} tasks, "
        f"{args.gap * 1000:.0f} ms apart); medians of {args.runs} runs",
        "",
        "ratios (Nx): qtasks relative to the backend, > 1 means qtasks is better (the plain"
        " row: the Django path relative to qtasks without Django)",
        "",
    ]
    for kind in kinds:
        report += report_kind(results, kind)
    for res in results.values():
        report.append(f"- {res['label']}: {res['version']}")
        report.append(f"  worker: `{res['worker']}` ({res['tuning']})")
        for kind in kinds:
            report += kind_details(res.get(kind, {}), kind, kind_notes, args)
        busy = [
            f"{o['phase']} (run {o['run']}: {o['share']:.0%})"
            for o in res["other_load"]
            if o["share"] > args.max_other_load
        ]
        if busy:
            report.append("  disturbed (kept after retries): " + ", ".join(busy))
        if res.get("retried"):
            report.append("  re-run because disturbed: " + ", ".join(res["retried"]))
        for err in res.get("errors", []):
            report.append(f"  ERROR {err.splitlines()[0][:300]}")
    print("\n".join(report))
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = args.out or RESULTS_DIR / f"django-peers-{qtasks_label.split(',')[0]}-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "machine": info,
                "command": command,
                "arguments": {
                    k: sorted(v) if isinstance(v, set) else v for k, v in vars(args).items()
                },
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "results": results,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    out.with_suffix(".md").write_text("\n".join(report) + "\n")
    print(f"\nwrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
