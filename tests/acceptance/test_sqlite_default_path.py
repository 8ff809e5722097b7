"""The default SQLite file lives in the working directory: every display names it by its
absolute path, so a producer started elsewhere shows at once that it uses another file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

APP = """
from qtasks import QueueTasks

app = QueueTasks()  # no URL: ./qtasks.sqlite3


@app.task
def hello() -> str:
    return "hi"
"""


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QTASKS_")}
    env["PYTHONPATH"] = str(folder)
    env["COLUMNS"] = "500"  # the banner on one line, however long the path
    return env


def test_worker_banner_and_app_url_name_the_absolute_file(tmp_path: Path) -> None:
    worker_dir, producer_dir = tmp_path / "worker", tmp_path / "producer"
    for folder in (worker_dir, producer_dir):
        folder.mkdir()
    (tmp_path / "shop.py").write_text(APP, encoding="utf-8")
    env = _env(tmp_path)
    banner = subprocess.run(
        [sys.executable, "-m", "qtasks", "-A", "shop:app", "run", "--burst"],
        cwd=worker_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = banner.stdout + banner.stderr
    assert banner.returncode == 0, output
    assert f" on sqlite:///{worker_dir / 'qtasks.sqlite3'}:" in output, output
    producer = subprocess.run(
        [sys.executable, "-c", "import shop; print(shop.app.broker_url)"],
        cwd=producer_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert producer.returncode == 0, producer.stderr
    assert producer.stdout.strip() == f"sqlite:///{producer_dir / 'qtasks.sqlite3'}"
