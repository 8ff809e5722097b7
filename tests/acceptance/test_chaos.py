"""The chaos run of ``bench/chaos.py``, shorter: random kill -9s lose nothing, and only tasks
whose worker was killed ever run twice (the full 100,000-task run: docs/reliability.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from chaos import run

pytestmark = [
    pytest.mark.parametrize(
        "db_url", ["sqlite", "redis", "redis-cluster", "postgres"], indirect=True
    ),
    pytest.mark.timeout(300),
]


def test_kill_9_storm_loses_nothing_and_reruns_only_killed_work(db_url: str) -> None:
    report = run(db_url, tasks=4000, workers=3, kills=5, lease=1.5, kill_every=0.4)
    assert report.lost == 0
    assert report.not_success == 0 and report.wrong_value == 0
    assert report.never_ran == 0
    assert report.ran_twice_on_live_worker == 0
    assert len(report.killed_pids) == 5
