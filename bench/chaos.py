"""Chaos run: many tasks, several worker processes, random ``kill -9``s, then an audit.

Usage (from the repository root)::

    .venv/bin/python bench/chaos.py --url sqlite:////tmp/chaos.sqlite3 [--tasks 100000]
        [--workers 4] [--kills 20] [--lease 2]
    .venv/bin/python bench/chaos.py --url redis://127.0.0.1:6379/12

The queue is emptied first. All tasks are enqueued, ``--workers`` worker processes
(``python -m qtasks -A chaos_app:app run``) start, and while they drain the queue a
random worker is killed with SIGKILL every so often (``--kills`` in all) and a new one
started in its place. At the end the audit checks, from the result store and from the
run log every task writes (task number and worker pid, one O_APPEND write per run):

* every task has exactly one final record, ``success`` with its own return value
  (0 lost, 0 failed);
* every task ran at least once, and every run but the last of a task that ran more
  than once was on a worker that was killed (no task ran twice on a live worker).

Exit status 0 when the audit passes; the figures are printed as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qtasks import QueueTasks, Task

HERE = Path(__file__).resolve().parent


@dataclass
class Report:
    url: str
    tasks: int
    workers: int
    kills: int
    seconds: float = 0.0
    lost: int = 0
    not_success: int = 0
    wrong_value: int = 0
    never_ran: int = 0
    ran_twice: int = 0
    ran_twice_on_live_worker: int = 0
    killed_pids: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.not_success
            or self.wrong_value
            or self.never_ran
            or self.ran_twice_on_live_worker
        )


class Workers:
    """The worker processes of one run, each logging to its own file."""

    def __init__(self, url: str, log_dir: Path, lease: float, concurrency: int) -> None:
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("QTASKS_")},
            "QTASKS_BROKER_URL": url,
            "QTASKS_LEASE_SECONDS": str(lease),
            "CHAOS_LOG_DIR": str(log_dir),
            "PYTHONPATH": str(HERE),
        }
        self.log_dir = log_dir
        self.concurrency = concurrency
        self.live: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        out = open(self.log_dir / f"worker-{len(os.listdir(self.log_dir))}.out", "wb")  # noqa: SIM115
        command = [sys.executable, "-m", "qtasks", "-A", "chaos_app:app", "run"]
        command += ["-c", str(self.concurrency)]
        self.live.append(subprocess.Popen(command, env=self.env, stdout=out, stderr=out))

    def kill_one(self) -> int:
        victim = self.live.pop(random.randrange(len(self.live)))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        return victim.pid

    def stop(self) -> None:
        for proc in self.live:
            proc.send_signal(signal.SIGTERM)
        for proc in self.live:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def run(
    url: str,
    *,
    tasks: int,
    workers: int,
    kills: int,
    lease: float = 2.0,
    concurrency: int = 8,
    kill_every: float = 0.3,
    timeout: float = 600.0,
) -> Report:
    app = QueueTasks("chaos", broker_url=url)  # chaos_app's name: its namespace
    report = Report(url=url, tasks=tasks, workers=workers, kills=kills)
    app.flush_all()
    sent = []
    for start in range(0, tasks, 1000):
        chunk = range(start, min(start + 1000, tasks))
        sent += app.add_tasks([("chaos_work", (i,)) for i in chunk])
    log_dir = Path(tempfile.mkdtemp(prefix="qtasks-chaos-"))
    pool = Workers(url, log_dir, lease, concurrency)
    began = time.monotonic()
    for _ in range(workers):
        pool.start()
    try:
        # Kill while there is work: spread the kills over roughly the first part of the run.
        while len(report.killed_pids) < kills:
            time.sleep(random.uniform(0.5, 1.5) * kill_every)
            report.killed_pids.append(pool.kill_one())
            pool.start()
        deadline = time.monotonic() + timeout
        while app.count().get("success", 0) < tasks:
            counts = app.count()
            if counts.get("error") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        report.seconds = round(time.monotonic() - began, 2)
    finally:
        pool.stop()
    _audit(report, app, sent, log_dir)
    app.close()
    return report


def _audit(report: Report, app: QueueTasks, sent: list[Task], log_dir: Path) -> None:
    runs: dict[int, list[int]] = defaultdict(list)
    for path in log_dir.glob("runs-*.log"):
        for line in path.read_text().splitlines():
            number, pid = line.split()
            runs[int(number)].append(int(pid))
    killed = set(report.killed_pids)
    for i, task in enumerate(sent):
        record = app.get(task.uuid)
        if record is None:
            report.lost += 1
        elif record.status != "success":
            report.not_success += 1
        elif record.returning != i:
            report.wrong_value += 1
        pids = runs.get(i, [])
        if not pids:
            report.never_ran += 1
        elif len(pids) > 1:
            report.ran_twice += 1
            # Every run but the one that stored the result must have died with its worker.
            if sum(pid not in killed for pid in pids) > 1:
                report.ran_twice_on_live_worker += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--kill-every", type=float, default=0.3, help="mean seconds between kills")
    args = parser.parse_args()
    report = run(
        args.url,
        tasks=args.tasks,
        workers=args.workers,
        kills=args.kills,
        lease=args.lease,
        concurrency=args.concurrency,
        kill_every=args.kill_every,
    )
    figures = asdict(report)
    figures["killed_pids"] = len(report.killed_pids)
    figures["tasks_per_second"] = round(report.tasks / report.seconds) if report.seconds else 0
    figures["ok"] = report.ok
    print(json.dumps(figures))
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
