"""No command prints a password: every URL printed or logged is masked, whatever the
command and however the URL was given (in the address, an option, a libpq keyword
string). The local PostgreSQL trusts every login, so a password in the URL is accepted
and ignored there: what the commands print is all that matters."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import Workers

SECRET = "s3cret-Pw-4real"
PG_URL = f"postgresql://postgres:{SECRET}@127.0.0.1:5432/qtasks_test?schema=qtasks_secrets"


@pytest.fixture
def db_url() -> str:
    return PG_URL


def _cli(workers: Workers, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qtasks", "-A", "procapp:app", *args],
        cwd=workers.tmp_path,
        env=workers.env({"QTASKS_BROKER_URL": url}),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_no_command_prints_the_brokers_password(workers: Workers) -> None:
    from . import procapp

    client = procapp.make_app(broker_url=PG_URL)
    client.flush_all()
    client.add_task("add", 1, 2)
    client.add_task("not.deployed")
    client.close()

    worker = workers.start("--burst")
    assert worker.wait_exit(60) == 0, worker.log()
    outputs = {"run": worker.log()}
    for command in (["status"], ["dead", "list"], ["migrate"], ["cancel", "0" * 32]):
        done = _cli(workers, PG_URL, *command)
        outputs[" ".join(command)] = done.stdout + done.stderr
    for wrong in (f"host=db password={SECRET} dbname=x", f"nosuch://u:{SECRET}@h/0"):
        done = _cli(workers, wrong, "status")
        assert done.returncode != 0
        outputs[wrong] = done.stdout + done.stderr
    assert "***" in outputs["run"]  # the URL is shown, masked
    for command, output in outputs.items():
        assert SECRET not in output, f"{command!r} printed the password:\n{output}"
