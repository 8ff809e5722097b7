"""Benchmark qtasks' Django backend next to raw qtasks, on the embedded SQLite transport.

Usage (from the repository root), under either Django::

    .venv/bin/python bench/bench_django.py [--n 20000] [--runs 3]          # Django 5.2 + backport
    /tmp/venv-dj6/bin/python bench/bench_django.py [--n 20000] [--runs 3]  # Django 6.x

The Django side is the project in ``bench/djproject/`` (``DJANGO_SETTINGS_MODULE=
djproject.settings``): one ``QTasksBackend`` with default ``OPTIONS`` and a no-op
``@task`` (``djproject.benchapp.tasks.noop``). The raw side is ``bench/bench_app.py``,
as in ``bench_sqlite.py``. Both sides of a comparison are measured in the same run,
each on a fresh database file in its own temporary directory. The enqueue phases
interleave the two sides in ``--slices`` slices (see ``bench_enqueue_sync``), so a
slow moment of a shared host lands on both; in the drain phase the side that goes
first alternates from run to run. Each figure printed is the median over ``--runs``
runs; a ratio is the median of the per-run ratios (raw rate / Django rate, so higher
means Django costs more). The JSON file written to ``bench/results/`` keeps every value.

Phases, in the order they run (``--phases`` selects a subset):

``enqueue_sync``
    raw ``task.add_task(i)`` x N (``qtasks.QueueTasks``), and ``noop.enqueue(i)`` x N
    through ``QTasksBackend``: ``enqueue_on_commit`` is on (the default) but no
    transaction is open, so every call sends at once. Target: raw/Django ≤ 1.2.
``enqueue_async``
    ``await task.add_task(i)`` x N (``qtasks.asyncio.QueueTasks``) and
    ``await noop.aenqueue(i)`` x N, in one ``asyncio.run``. Target: raw/Django ≤ 1.2.
``drain``
    N no-op tasks enqueued in bulk (untimed), then ONE cold ``--burst`` worker
    process runs them all, results stored: ``python -m qtasks -A bench_app:app run
    --burst`` for raw ``noop``, ``python -m django qtasks_worker --burst`` for the
    Django ``noop``. Rate = N / (last ``finished_at`` - first ``started_at``), read
    from ``qtasks_task`` as ``bench_sqlite.py`` does; also the wall rate, launch →
    first start, and the batching diagnostics. No target on the ratio.
``breakdown`` (not run by default)
    Where each enqueue path's time goes, µs per task: the pieces of raw
    ``add_task`` and of ``noop.enqueue`` timed inside the real N-call loops
    ("in loop": a ``perf_counter`` pair around each piece, so add about 0.2 µs per
    wrapped piece to its parents), then the pure-Python pieces each alone in a
    tight loop of N calls ("alone": warm caches, an empty call's cost subtracted).
    Uses qtasks and backend internals (``_prepare``, ``_sync``, ``_client``) on purpose.

``DJANGO_SETTINGS_MODULE`` may name another settings module (one that star-imports
``djproject.settings`` and changes, say, ``LOGGING``); the workers inherit it.

The quiet-machine guard, retries, source hash and machine report are
``bench_sqlite.py``'s (imported from it). ``--worker-wrapper`` prefixes both
worker commands, for profiling (they run in ``bench/``: give absolute paths).

Nothing here is a test: no figure is asserted, misses are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
sys.path.insert(0, str(BENCH_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproject.settings")

import django  # noqa: E402

django.setup()

from bench_sqlite import (  # noqa: E402
    OtherLoad,
    Results,
    async_app,
    async_task,
    count_rows,
    db_query,
    finish_worker,
    fresh_db,
    machine_info,
    prefill,
    source_digest,
    sync_app,
    sync_task,
    wait_until_quiet,
    write_json,
)
from django.db import transaction  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from djproject.benchapp.tasks import noop  # noqa: E402
from djproject.settings import tasks_setting  # noqa: E402

import qtasks  # noqa: E402
from qtasks.contrib.django import backend as backend_module  # noqa: E402
from qtasks.contrib.django import compat  # noqa: E402
from qtasks.contrib.django.backend import QTasksBackend  # noqa: E402

PHASES = ("enqueue_sync", "enqueue_async", "drain", "breakdown")
DEFAULT_PHASES = ("enqueue_sync", "enqueue_async", "drain")

#: The enqueue target: Django may cost at most this many times raw qtasks.
RATIO_TARGET = 1.2


# helpers ---------------------------------------------------------------------------------


@contextlib.contextmanager
def django_backend(url: str) -> Iterator[QTasksBackend]:
    """The ``default`` ``QTasksBackend`` pointed at ``url`` for the duration of a phase.

    ``override_settings(TASKS=...)`` makes Django's handler forget its backends, so
    ``noop.enqueue`` finds a new one on this URL. On exit the connection this
    thread opened is closed and the backend module's cache of shared apps emptied
    (a private dict: the benchmark's business, not the API's), so no phase keeps a
    connection to a deleted file.
    """
    with override_settings(TASKS=tasks_setting(url)):
        backend = compat.task_backends()["default"]
        assert isinstance(backend, QTasksBackend), backend
        try:
            yield backend
        finally:
            cast(qtasks.QueueTasks, backend.app).close()
            backend_module._apps.clear()


def prefill_django(url: str, n: int, chunk: int) -> None:
    """Enqueue ``n`` Django ``noop(i)`` calls in bulk (not timed): the rows ``noop.enqueue``
    would write, ``chunk`` per transaction, built by the backend's own ``_prepare``."""
    with django_backend(url) as backend:
        app = backend.app
        for start in range(0, n, chunk):
            envelopes = [
                backend._prepare(noop, (i,), {})[1] for i in range(start, min(n, start + chunk))
            ]
            app._sync(app._client.enqueue(envelopes))


def in_order(run: int, pair: tuple[Any, Any]) -> tuple[Any, Any]:
    """Raw first in odd runs, Django first in even ones."""
    return pair if run % 2 else (pair[1], pair[0])


def add_ratio(results: Results, name: str, raw: float, django_rate: float, target: bool) -> None:
    results.add(
        name,
        raw / django_rate,
        "x",
        target=RATIO_TARGET if target else None,
        higher_is_better=False,
        note="" if target else "no target",
    )


# phases ----------------------------------------------------------------------------------


def slices(n: int, count: int) -> list[range]:
    """``range(n)`` cut into ``count`` consecutive slices (fewer if ``n`` is small)."""
    count = max(1, min(count, n))
    bounds = [n * k // count for k in range(count + 1)]
    return [range(a, b) for a, b in itertools.pairwise(bounds)]


def bench_enqueue_sync(args: argparse.Namespace, results: Results, run: int) -> None:
    """raw ``task.add_task(i)`` and Django ``noop.enqueue(i)``, N each, interleaved.

    Each side has its own fresh database (connection and schema made untimed).
    The N calls of each side are cut into ``--slices`` slices run alternately, the
    side going first alternating too, so both see the same machine: a slow
    moment of a shared host lands on both instead of on whichever ran then.
    A side's rate is N / the sum of its slices' times.
    """
    with fresh_db() as (raw_url, raw_path), fresh_db() as (dj_url, dj_path):
        app = sync_app(raw_url)
        task = sync_task(app, "noop")
        app.ping()
        with django_backend(dj_url) as backend:
            cast(qtasks.QueueTasks, backend.app).ping()
            assert backend.qtasks_options.enqueue_on_commit
            assert not transaction.get_connection().in_atomic_block

            def raw_side(part: range) -> float:
                t0 = time.perf_counter()
                for i in part:
                    task.add_task(i)
                return time.perf_counter() - t0

            def django_side(part: range) -> float:
                t0 = time.perf_counter()
                for i in part:
                    noop.enqueue(i)
                return time.perf_counter() - t0

            spent = {"raw": 0.0, "django": 0.0}
            for k, part in enumerate(slices(args.n, args.slices)):
                for side, measure in in_order(
                    run + k, (("raw", raw_side), ("django", django_side))
                ):
                    spent[side] += measure(part)
        app.close()
        assert count_rows(raw_path) == args.n and count_rows(dj_path) == args.n
    rates = {side: args.n / seconds for side, seconds in spent.items()}
    results.add("raw add_task, sync", rates["raw"], "tasks/s")
    results.add(
        "Django enqueue, sync", rates["django"], "tasks/s", note="target: raw / 1.2 (see ratio)"
    )
    add_ratio(results, "ratio raw/Django, sync", rates["raw"], rates["django"], True)


def bench_enqueue_async(args: argparse.Namespace, results: Results, run: int) -> None:
    """``await task.add_task(i)`` and ``await noop.aenqueue(i)``, N each, interleaved as in
    ``enqueue_sync``, in one ``asyncio.run`` (the raw side on ``qtasks.asyncio.QueueTasks``)."""
    with fresh_db() as (raw_url, raw_path), fresh_db() as (dj_url, dj_path):
        with django_backend(dj_url) as backend:

            async def main() -> dict[str, float]:
                app = async_app(raw_url)
                task = async_task(app, "noop")
                await app.ping()
                client = backend.app._client
                await client.ping()  # this loop's connection and the schema: untimed

                async def raw_side(part: range) -> float:
                    t0 = time.perf_counter()
                    for i in part:
                        await task.add_task(i)
                    return time.perf_counter() - t0

                async def django_side(part: range) -> float:
                    t0 = time.perf_counter()
                    for i in part:
                        await noop.aenqueue(i)
                    return time.perf_counter() - t0

                spent = {"raw": 0.0, "django": 0.0}
                for k, part in enumerate(slices(args.n, args.slices)):
                    sides = in_order(run + k, (("raw", raw_side), ("django", django_side)))
                    for side, measure in sides:
                        spent[side] += await measure(part)
                await app.close()
                await client.close()
                return spent

            spent = asyncio.run(main())
        assert count_rows(raw_path) == args.n and count_rows(dj_path) == args.n
    rates = {side: args.n / seconds for side, seconds in spent.items()}
    results.add("raw add_task, async", rates["raw"], "tasks/s")
    results.add(
        "Django aenqueue, async", rates["django"], "tasks/s", note="target: raw / 1.2 (see ratio)"
    )
    add_ratio(results, "ratio raw/Django, async", rates["raw"], rates["django"], True)


def wrapped(args: argparse.Namespace, cmd: list[str]) -> list[str]:
    return shlex.split(args.worker_wrapper) + cmd if args.worker_wrapper else cmd


def worker_env(url: str) -> dict[str, str]:
    """Both workers' environment: the phase's broker, ``bench/`` first on the path, and this
    process' ``DJANGO_SETTINGS_MODULE`` (``djproject.settings`` unless set otherwise)."""
    env = dict(os.environ)
    env["QTASKS_BROKER_URL"] = url
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BENCH_DIR), env.get("PYTHONPATH", "")) if p)
    return env


def drain(args: argparse.Namespace, side: str) -> dict[str, float]:
    """Prefill N no-op tasks (untimed), run one cold burst worker, read the rates off the rows."""
    if side == "raw":
        cmd = [sys.executable, "-m", "qtasks", "-A", "bench_app:app", "run", "--burst"]
    else:
        cmd = [sys.executable, "-m", "django", "qtasks_worker", "--burst"]
    with fresh_db() as (url, path):
        if side == "raw":
            prefill(url, "noop", args.n, args.chunk)
        else:
            prefill_django(url, args.n, args.chunk)
        log_path = path.with_suffix(".log")
        log_file = open(log_path, "wb")  # noqa: SIM115 - closed by finish_worker
        launched = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            wrapped(args, cmd),
            cwd=BENCH_DIR,
            env=worker_env(url),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        proc.log_file = log_file  # type: ignore[attr-defined]
        finish_worker(proc, log_path, timeout=args.timeout)
        wall = time.perf_counter() - t0
        done, first_start, last_finish, claims, writes = db_query(
            path,
            "SELECT sum(status = 'success'), min(started_at), max(finished_at), "
            "count(DISTINCT started_at), count(DISTINCT updated_at) FROM qtasks_task",
        )[0]
    if done != args.n:
        raise RuntimeError(f"{side} drain: {done} of {args.n} tasks succeeded")
    return {
        "rate": args.n / (last_finish - first_start),
        "wall": args.n / wall,
        "start": (first_start - launched) * 1000,
        "claim": args.n / claims,
        "write": args.n / writes,
    }


def bench_drain(args: argparse.Namespace, results: Results, run: int) -> None:
    stats: dict[str, dict[str, float]] = {}
    for side in in_order(run, ("raw", "django")):
        stats[side] = drain(args, side)
    for side, label in (("raw", "drain raw noop"), ("django", "drain Django noop")):
        s = stats[side]
        results.add(label, s["rate"], "tasks/s", note="one worker, thread pool, results stored")
        results.add(f"{label}, wall incl. start", s["wall"], "tasks/s", note="no target")
        results.add(
            f"{label}, launch→first start",
            s["start"],
            "ms",
            higher_is_better=False,
            note="process start + imports (+ django.setup and checks) + connect",
        )
        results.add(f"{label}, tasks per claim", s["claim"], "tasks", note="diagnostic")
        results.add(f"{label}, outcomes per write", s["write"], "tasks", note="diagnostic")
    raw_rate, django_rate = stats["raw"]["rate"], stats["django"]["rate"]
    add_ratio(results, "ratio raw/Django, drain", raw_rate, django_rate, False)


class Stopwatch:
    """Time spent inside chosen callables during a real loop: ``wrap`` an attribute, run,
    read ``per_call``; ``restore`` puts every original back.

    Each wrapper adds about 0.1-0.2 µs (two ``perf_counter`` calls) to its callers:
    the pieces are slightly overstated and the totals a little more, by the sum of
    the wrappers nested inside them.
    """

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self._undo: list[Callable[[], None]] = []

    def _patch(self, obj: Any, name: str, replacement: Any) -> None:
        in_dict = name in vars(obj)
        original = vars(obj)[name] if in_dict else None
        setattr(obj, name, replacement)
        self._undo.append(
            (lambda: setattr(obj, name, original)) if in_dict else (lambda: delattr(obj, name))
        )

    def wrap(self, key: str, obj: Any, name: str) -> None:
        inner = getattr(obj, name)
        spent, clock = self.spent, time.perf_counter
        spent[key] = 0.0

        def timed(*a: Any, **kw: Any) -> Any:
            t0 = clock()
            try:
                return inner(*a, **kw)
            finally:
                spent[key] += clock() - t0

        self._patch(obj, name, timed)

    def wrap_async(self, key: str, obj: Any, name: str) -> None:
        inner = getattr(obj, name)
        spent, clock = self.spent, time.perf_counter
        spent[key] = 0.0

        async def timed(*a: Any, **kw: Any) -> Any:
            t0 = clock()
            try:
                return await inner(*a, **kw)
            finally:
                spent[key] += clock() - t0

        self._patch(obj, name, timed)

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()


def per_call(n: int, fn: Callable[[int], Any], empty: float = 0.0) -> float:
    """µs per ``fn(i)`` over ``n`` calls in a tight loop, minus ``empty`` (an empty call)."""
    gc.collect()
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - t0) / n * 1e6 - empty


def breakdown_raw_in_loop(n: int) -> dict[str, float]:
    """µs per task of the pieces of ``task.add_task(i)``, timed inside the real loop."""
    import qtasks.app as app_module

    watch = Stopwatch()
    with fresh_db() as (url, path):
        app = sync_app(url)
        task = sync_task(app, "noop")
        app.ping()
        watch.wrap("raw: task.add_task(i)", task, "add_task")
        watch.wrap("raw: … app._sync (runner, all below)", app, "_sync")
        watch.wrap("raw: … … Client.envelope (incl. new_task_id)", app._client, "envelope")
        watch.wrap_async("raw: … … client.enqueue (SQLite INSERT)", app._client, "enqueue")
        watch.wrap(
            "raw: … … record_from_envelope (returned Task)", app_module, "record_from_envelope"
        )
        try:
            t0 = time.perf_counter()
            for i in range(n):
                task.add_task(i)
            total = time.perf_counter() - t0
        finally:
            watch.restore()
        app.close()
        assert count_rows(path) == n
    return {"raw: loop total, instrumented": total / n * 1e6} | {
        k: v / n * 1e6 for k, v in watch.spent.items()
    }


def breakdown_django_in_loop(n: int) -> dict[str, float]:
    """µs per task of the pieces of ``noop.enqueue(i)``, timed inside the real loop."""
    watch = Stopwatch()
    with fresh_db() as (url, path), django_backend(url) as backend:
        app = cast(qtasks.QueueTasks, backend.app)
        app.ping()
        watch.wrap("Django: Task.get_backend (task_backends[alias])", type(noop), "get_backend")
        watch.wrap("Django: QTasksBackend.enqueue", backend, "enqueue")
        watch.wrap("Django: … _prepare", backend, "_prepare")
        watch.wrap("Django: … … validate_task", backend, "validate_task")
        watch.wrap("Django: … … TaskResult(...) incl. normalize_json", compat, "TaskResult")
        watch.wrap("Django: … … new_task_id", backend_module, "new_task_id")
        watch.wrap("Django: … … Envelope(...)", backend_module, "Envelope")
        watch.wrap("Django: … transaction.get_connection", transaction, "get_connection")
        watch.wrap("Django: … app._sync (runner + below)", app, "_sync")
        watch.wrap_async("Django: … … client.enqueue (SQLite INSERT)", app._client, "enqueue")
        watch.wrap("Django: … _sent (task_enqueued.send)", backend, "_sent")
        try:
            t0 = time.perf_counter()
            for i in range(n):
                noop.enqueue(i)
            total = time.perf_counter() - t0
        finally:
            watch.restore()
        assert count_rows(path) == n
    return {"Django: loop total, instrumented": total / n * 1e6} | {
        k: v / n * 1e6 for k, v in watch.spent.items()
    }


def breakdown_alone(n: int) -> dict[str, float]:
    """µs per call of the pure-Python pieces, each alone in a tight loop (warm caches)."""
    from qtasks.client import Client
    from qtasks.core.envelope import Envelope
    from qtasks.core.ids import new_task_id
    from qtasks.core.result import record_from_envelope

    with fresh_db() as (url, _path), django_backend(url) as backend:
        raw_app = sync_app(url)
        definition = raw_app.definition("noop")
        queue = raw_app.config.default_queue
        result, envelope = backend._prepare(noop, (1,), {})
        now = time.time()

        def raw_envelope(i: int) -> Any:
            return Client.envelope(definition, "noop", (i,), {}, queue=queue, priority=None)

        def django_result(i: int) -> Any:
            return compat.TaskResult(
                task=noop,
                id=envelope.id,
                status=compat.TaskResultStatus.READY,
                enqueued_at=datetime.fromtimestamp(now, UTC),
                started_at=None,
                last_attempted_at=None,
                finished_at=None,
                args=(i,),
                kwargs={},
                backend="default",
                errors=[],
                worker_ids=[],
            )

        def django_envelope(i: int) -> Any:
            return Envelope(
                id=envelope.id,
                task_name=noop.module_path,
                queue=noop.queue_name,
                args=tuple(result.args),
                kwargs=result.kwargs,
                priority=noop.priority,
                eta=now,
                created_at=now,
                retries_left=0,
                headers={"django.backend": "default"},
            )

        pieces: list[tuple[str, Callable[[int], Any]]] = [
            ("raw: … … Client.envelope (incl. new_task_id)", raw_envelope),
            (
                "raw: … … record_from_envelope (returned Task)",
                lambda i: record_from_envelope(envelope, raw_app),
            ),
            ("Django: Task.get_backend (task_backends[alias])", lambda i: noop.get_backend()),
            ("Django: … _prepare", lambda i: backend._prepare(noop, (i,), {})),
            ("Django: … … validate_task (full check)", lambda i: backend.validate_task(noop)),
            ("Django: … … TaskResult(...) incl. normalize_json", django_result),
            (
                "Django: … … … normalize_json(args), normalize_json(kwargs)",
                lambda i: (compat.normalize_json((i,)), compat.normalize_json({})),
            ),
            ("Django: … … new_task_id", lambda i: new_task_id()),
            ("Django: … … Envelope(...)", django_envelope),
            (
                "Django: … transaction.get_connection",
                lambda i: transaction.get_connection("default").in_atomic_block,
            ),
            ("Django: … _sent (task_enqueued.send)", lambda i: backend._sent(result)),
        ]
        validated = getattr(backend, "_validated", None)  # the validate-once cache, if any
        if validated is not None:
            validated.add(noop)
            pieces.append(
                (
                    "Django: … … `task in _validated` (validate-once check)",
                    lambda i: noop in validated,
                )
            )
        empty = per_call(n, lambda i: None)
        figures = {}
        for label, fn in pieces:
            fn(0)  # first-call imports and caches
            figures[label] = per_call(n, fn, empty)
    return figures


def bench_breakdown(args: argparse.Namespace, results: Results, run: int) -> None:
    """Where the time of each enqueue path goes: the pieces inside the real loops (fresh
    database each), then the pure-Python pieces alone (see the module docstring)."""
    loops = (breakdown_raw_in_loop, breakdown_django_in_loop)
    for measure in in_order(run, loops):
        for label, value in measure(args.n).items():
            results.add(f"in loop: {label}", value, "µs", higher_is_better=False)
    for label, value in breakdown_alone(args.n).items():
        results.add(f"alone: {label}", value, "µs", higher_is_better=False)


PHASE_FUNCS: dict[str, Callable[[argparse.Namespace, Results, int], None]] = {
    "enqueue_sync": bench_enqueue_sync,
    "enqueue_async": bench_enqueue_async,
    "drain": bench_drain,
    "breakdown": bench_breakdown,
}


# report ----------------------------------------------------------------------------------


def django_info() -> dict[str, Any]:
    """Django's version and where its Tasks framework comes from."""
    if compat.TASKS_MODULE == "django.tasks":
        tasks = "django.tasks (built in)"
    else:
        from importlib.metadata import version

        tasks = f"django_tasks backport {version('django-tasks')}"
    return {"django": django.get_version(), "tasks_framework": tasks}


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "tasks/s":
        return f"{value:,.0f} /s"
    if unit == "x":
        return f"{value:.3f}x"
    if unit in ("ms", "µs"):
        return f"{value:,.2f} {unit}"
    return f"{value:,.1f} {unit}"


def print_report(machine: dict[str, Any], command: str, results: Results, runs: int) -> None:
    print()
    for key, value in machine.items():
        print(f"{key + ':':<17}{value}")
    print(f"{'command:':<17}{command}")
    print()
    rows = [("figure", f"median of {runs}", "target", "met", "runs")]
    for f in results.figures.values():
        if f.target is None:
            target = "-"
        else:
            target = ("≤ " if not f.higher_is_better else "≥ ") + format_value(f.target, f.unit)
        met = {None: "", True: "yes", False: "NO"}[f.met]
        each = ", ".join(format_value(v, f.unit).split(" ")[0] for v in f.values)
        rows.append((f.name, format_value(f.median, f.unit), target, met, each))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for k, row in enumerate(rows):
        print(
            "  ".join(
                cell.ljust(w) if i in (0, 3, 4) else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if k == 0:
            print("  ".join("-" * w for w in widths))
    for name in ("sync", "async"):
        raw = results.figures.get(f"raw add_task, {name}")
        dj = results.figures.get(f"Django {'enqueue' if name == 'sync' else 'aenqueue'}, {name}")
        if raw and dj and raw.median and dj.median:
            print(
                f"{name}: Django at {dj.median / raw.median:.0%} of raw "
                f"(target ≥ {1 / RATIO_TARGET:.0%}); {1e6 / dj.median - 1e6 / raw.median:+.1f} µs "
                "per task from the medians"
            )


def run_phase(args: argparse.Namespace, phase: str, run: int, results: Results) -> float | None:
    """One phase (both sides); redone up to ``--retries`` times if other processes were busy."""
    for attempt in range(args.retries + 1):
        if args.quiet_wait > 0:
            wait_until_quiet(args.max_other_load, args.quiet_wait)
        t0 = time.perf_counter()
        load = OtherLoad()
        attempt_results = Results()
        PHASE_FUNCS[phase](args, attempt_results, run)
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
        "--n", type=int, default=20_000, help="tasks per measurement (default: %(default)s)"
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="runs of each phase; figures are medians (default: %(default)s)",
    )
    parser.add_argument(
        "--phases",
        default=",".join(DEFAULT_PHASES),
        help="comma-separated subset of: " + ", ".join(PHASES) + " (default: %(default)s)",
    )
    parser.add_argument(
        "--slices",
        type=int,
        default=20,
        help="enqueue phases: each side's N calls run in this many slices, alternating "
        "with the other side's (default: %(default)s)",
    )
    parser.add_argument(
        "--chunk",
        type=int,
        default=1000,
        help="tasks per transaction when prefilling a drain (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds a worker may take before it is killed (default: %(default)s)",
    )
    parser.add_argument(
        "--worker-wrapper",
        default="",
        help="command prefix for both worker processes, for profiling (absolute paths: "
        "workers run in bench/)",
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
        help="JSON result file (default: bench/results/django-<version>-<time>.json)",
    )
    args = parser.parse_args(argv)
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join([os.path.relpath(sys.executable), *sys.argv] if argv is None else argv)
    if os.environ.get("PYTHONPATH"):
        command = f"PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])} {command}"
    machine = {**machine_info(), **django_info()}
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
    out = args.out or RESULTS_DIR / (
        f"django-{django.get_version()}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    write_json(out, machine, command, args, results)
    print(f"\nresults written to {os.path.relpath(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
