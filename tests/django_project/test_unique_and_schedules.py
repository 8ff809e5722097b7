"""Unique Django tasks (``OPTIONS["unique"]``) and schedules (``OPTIONS["schedule"]``):
equal calls make one task and answer with its result, on commit too; a hold outlives the
run; bad options fail ``manage.py check``; schedules fire through ``qtasks_worker
--schedule`` and a worker thread, and ``qtasks_schedule list`` shows them."""

from __future__ import annotations

import asyncio
import io
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings

from qtasks.contrib.django import compat
from qtasks.contrib.django.backend import QTasksBackend
from qtasks.contrib.django.options import parse_options
from qtasks.contrib.django.unique import holder_result
from qtasks.core.errors import ConfigurationError
from qtasks.core.ids import new_task_id
from qtasks.testing import drain, worker_thread
from tests.conftest import stored_ticks
from tests.django_project import settings as test_settings
from tests.django_project.djapps.shop import tasks
from tests.django_project.test_backend import Worker, start_worker  # noqa: F401

SHOP = "tests.django_project.djapps.shop.tasks"
READY = compat.TaskResultStatus.READY
SUCCESSFUL = compat.TaskResultStatus.SUCCESSFUL


def tasks_with(**aliases: dict[str, Any]) -> Any:
    """The test settings' TASKS plus ``aliases``."""
    return override_settings(TASKS={**test_settings.TASKS, **aliases})


@pytest.fixture
def scheduled(tmp_path: Path) -> Iterator[Any]:
    """The ``scheduled`` alias (settings.scheduled_backend: unique add and send_mail, a
    "beat" schedule writing to tmp_path/beat.txt every second), its broker emptied."""
    with tasks_with(scheduled=test_settings.scheduled_backend(str(tmp_path / "beat.txt"))):
        backend = compat.task_backends()["scheduled"]
        backend.app.flush_all()
        yield backend


@pytest.fixture
def enqueued() -> Iterator[list[str]]:
    """The ids ``task_enqueued`` is sent for."""
    seen: list[str] = []

    def receiver(sender: Any, task_result: Any, **kwargs: Any) -> None:
        seen.append(task_result.id)

    compat.task_enqueued.connect(receiver, weak=False)
    yield seen
    compat.task_enqueued.disconnect(receiver)


# unique tasks --------------------------------------------------------------------------


def test_equal_calls_make_one_task_and_answer_with_its_result(
    scheduled: Any, enqueued: list[str]
) -> None:
    add = tasks.add.using(backend="scheduled")
    first = add.enqueue(1, 2)
    again = add.enqueue(1, 2)
    other = add.enqueue(2, 2)
    by_keywords = add.enqueue(a=1, b=2)
    in_other_order = add.enqueue(b=2, a=1)
    assert again.id == first.id and again.status == READY and again.args == [1, 2]
    assert again.backend == "scheduled" and again.task.func is tasks.add.func
    assert other.id != first.id
    assert by_keywords.id not in (first.id, other.id) and in_other_order.id == by_keywords.id
    assert enqueued == [first.id, other.id, by_keywords.id]  # none for the deduplicated
    assert scheduled.app.count()["new"] == 3
    assert drain(scheduled.app) == 3
    assert add.get_result(first.id).return_value == 3
    after = add.enqueue(1, 2)  # held for 0 s: free once the holder finished
    assert after.id != first.id and enqueued[-1] == after.id


def test_tasks_not_listed_are_never_deduplicated(scheduled: Any) -> None:
    aadd = tasks.aadd.using(backend="scheduled")
    assert aadd.enqueue(1, 1).id != aadd.enqueue(1, 1).id


def test_aenqueue_answers_with_the_holder_too(scheduled: Any, enqueued: list[str]) -> None:
    add = tasks.add.using(backend="scheduled")

    async def twice() -> tuple[Any, Any]:
        return await add.aenqueue(4, 4), await add.aenqueue(4, 4)

    first, again = asyncio.run(twice())
    assert again.id == first.id and again.status == READY
    assert enqueued == [first.id]


def test_a_hold_outlives_the_run_for_its_seconds(scheduled: Any) -> None:
    send_mail = tasks.send_mail.using(backend="scheduled")  # held 2 s after enqueue
    first = send_mail.enqueue("a@b.c")
    drain(scheduled.app, queues=["emails"])
    done = send_mail.enqueue("a@b.c")
    assert done.id == first.id  # it finished, but the key is held for 2 s
    assert done.status == SUCCESSFUL and done.return_value == "sent to a@b.c"
    assert first.enqueued_at is not None
    time.sleep(max(0.0, first.enqueued_at.timestamp() + 2.05 - time.time()))
    assert send_mail.enqueue("a@b.c").id != first.id


def test_the_holder_is_named_by_its_django_id_during_a_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a failed attempt the retry's attempt holds the key: the answer is the result
    the first ``.enqueue()`` returned (its Django id), with the failed attempt's error."""
    monkeypatch.setattr("qtasks.worker.retries.backoff_delay", lambda *a, **k: 60.0)
    options = {"broker_url": test_settings._BROKER, "retry": 1, "unique": [f"{SHOP}.fails"]}
    with tasks_with(uniq_retry={"BACKEND": test_settings._BACKEND, "OPTIONS": options}):
        app = compat.task_backends()["uniq_retry"].app
        app.flush_all()
        fails = tasks.fails.using(backend="uniq_retry")
        first = fails.enqueue()
        assert drain(app) == 1  # the first attempt failed; the retry waits 60 s
        again = fails.enqueue()
        assert again.id == first.id and again.status == READY
        assert [e.exception_class_path for e in again.errors] == ["builtins.ValueError"]
        app.flush_all()


def test_a_holder_whose_record_is_gone_is_named_by_its_id(scheduled: Any) -> None:
    """The holder's record expired between the enqueue and the read: what is known of it."""
    result = tasks.add.using(backend="scheduled").enqueue(9, 9)
    gone = new_task_id()
    answer = asyncio.run(holder_result(scheduled, gone, result))
    assert answer.id == gone and answer.args == [9, 9] and answer.status == READY
    assert result.id != gone  # the result of the call itself is left as it is


@pytest.mark.django_db(transaction=True)
def test_on_commit_the_deduplicated_result_becomes_the_holders(
    scheduled: Any, enqueued: list[str]
) -> None:
    """Inside atomic() the task is sent at the commit like any other: deduplicated then,
    the returned result becomes the holder's, in place (its id is provisional before)."""
    add = tasks.add.using(backend="scheduled")
    holder = add.enqueue(5, 5)
    with transaction.atomic():
        again = add.enqueue(5, 5)
        provisional = again.id
        assert provisional != holder.id and again.status == READY
        with pytest.raises(compat.TaskResultDoesNotExist):
            add.get_result(provisional)  # nothing is sent before the commit
    assert again.id == holder.id and again.args == [5, 5]
    again.refresh()  # the holder's: refresh() reads it
    assert again.status == READY
    with pytest.raises(compat.TaskResultDoesNotExist):
        add.get_result(provisional)  # never stored
    with transaction.atomic():
        fresh = add.enqueue(6, 6)
        fresh_id = fresh.id
    assert fresh.id == fresh_id and add.get_result(fresh_id).status == READY
    with pytest.raises(RuntimeError), transaction.atomic():
        dropped = add.enqueue(7, 7)
        raise RuntimeError("roll back")
    assert add.enqueue(7, 7).id != dropped.id  # the rollback took no key
    assert enqueued == [holder.id, fresh_id, enqueued[-1]]
    assert scheduled.app.count()["new"] == 3


# bad options ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unique", "message"),
    [
        ("x.y", r"OPTIONS\['unique'\] must be a dict .* or a list"),
        ({f"{SHOP}.add": -1}, r"OPTIONS\['unique'\]\['.*add'\] must be the seconds"),
        ({f"{SHOP}.add": math.inf}, r"a finite number >= 0.*got inf"),
        ({f"{SHOP}.add": True}, r"got True"),
        ({f"{SHOP}.add": "300"}, r"got '300'"),
        (["add"], r"dotted module path of a Django task .* got 'add'"),
        ([3], r"got 3"),
        ([f"{SHOP}.add", f"{SHOP}.add"], r"lists '.*add' twice"),
    ],
)
def test_bad_unique_options_name_the_key(unique: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_options({"unique": unique})


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (["x"], r"OPTIONS\['schedule'\] must be a dict"),
        ({"n": "0 3 * * *"}, r"OPTIONS\['schedule'\]\['n'\] must be a dict such as"),
        ({"n": {"task": f"{SHOP}.add", "every": 5, "when": 1}}, r"\['n'\]: unknown keys 'when'"),
        ({"n": {"every": 5}}, r"\['n'\]\['task'\] must be the dotted module path"),
        ({"n": {"task": f"{SHOP}.add", "cron": "61 * * * *"}}, r"\['n'\]: invalid cron"),
        ({"n": {"task": f"{SHOP}.add", "cron": "* * * * *", "every": 5}}, r"exactly one of"),
        ({"n": {"task": f"{SHOP}.add"}}, r"\['n'\]: a schedule needs exactly one"),
        ({"n": {"task": f"{SHOP}.add", "every": -1}}, r"positive number of seconds"),
        ({"n": {"task": f"{SHOP}.add", "cron": "0 3 * * *", "tz": "Mars/Base"}}, r"time zone"),
        ({"n": {"task": f"{SHOP}.add", "every": 5, "catch_up": "some"}}, r"catch_up must be"),
        ({"n": {"task": f"{SHOP}.add", "every": 5, "jitter": -2}}, r"jitter must be"),
        ({"n": {"task": f"{SHOP}.add", "every": 5, "skip_if_running": 1}}, r"True or False"),
        ({"n": {"task": f"{SHOP}.add", "every": 5, "args": "12"}}, r"args must be a list"),
        ({"n": {"task": f"{SHOP}.add", "every": 5, "kwargs": [1]}}, r"kwargs must be a dict"),
    ],
)
def test_bad_schedule_options_name_the_schedule(schedule: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_options({"schedule": schedule})


def test_unique_tasks_are_refused_on_a_django_database_queue() -> None:
    with pytest.raises(ConfigurationError, match=r"not supported with a django:// broker_url"):
        parse_options({"broker_url": "django://queue", "unique": [f"{SHOP}.add"]})
    parse_options({"broker_url": "django://queue", "schedule": {}})  # schedules are not


def errors_of(options: dict[str, Any], queues: list[str] | None = None) -> list[tuple[str, str]]:
    params: dict[str, Any] = {"OPTIONS": {"broker_url": "memory://checks", **options}}
    if queues is not None:
        params["QUEUES"] = queues
    return [(m.id, m.msg) for m in QTasksBackend("checked", params).check()]


def test_mistakes_fail_the_system_checks_not_the_first_tick() -> None:
    bad_cron = errors_of({"schedule": {"n": {"task": f"{SHOP}.add", "cron": "x"}}})
    assert [i for i, _ in bad_cron] == ["qtasks.E001"]
    assert "OPTIONS['schedule']['n']" in bad_cron[0][1] and "cron" in bad_cron[0][1]
    missing = errors_of({"schedule": {"n": {"task": f"{SHOP}.nope", "every": 5}}})
    assert [i for i, _ in missing] == ["qtasks.E002"]
    assert f"task '{SHOP}.nope' does not import" in missing[0][1]
    not_a_task = errors_of({"schedule": {"n": {"task": f"{SHOP}.Flaky", "every": 5}}})
    assert "is not a Django Task" in not_a_task[0][1]
    other_queue = errors_of(
        {"schedule": {"n": {"task": f"{SHOP}.send_mail", "every": 5, "args": ["a"]}}},
        queues=["default"],
    )
    assert [i for i, _ in other_queue] == ["qtasks.E002"] and "emails" in other_queue[0][1]
    not_json = errors_of({"schedule": {"n": {"task": f"{SHOP}.add", "every": 5, "args": [{1}]}}})
    assert [i for i, _ in not_json] == ["qtasks.E002"], not_json
    typo = errors_of({"unique": [f"{SHOP}.ad"]})
    assert [i for i, _ in typo] == ["qtasks.E002"]
    assert f"OPTIONS['unique'] names '{SHOP}.ad', which does not import" in typo[0][1]
    good = errors_of(
        {"unique": [f"{SHOP}.add"], "schedule": {"n": {"task": f"{SHOP}.add", "every": 5}}}
    )
    assert good == []


# schedules -----------------------------------------------------------------------------


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def schedule_list(*args: str) -> str:
    out = io.StringIO()
    call_command("qtasks_schedule", "list", "--backend", "scheduled", *args, stdout=out)
    return out.getvalue()


def test_a_worker_thread_fires_the_schedule_and_the_list_shows_it(
    scheduled: Any, tmp_path: Path
) -> None:
    before = {s["name"]: s for s in json.loads(schedule_list("--json"))}
    assert before["beat"]["task"] == f"{SHOP}.record_order"
    assert before["beat"]["trigger"] == "every 1 s" and before["beat"]["last_tick"] is None
    assert before["nightly"]["trigger"] == "cron '0 3 * * *' (Europe/Paris)"
    assert before["nightly"]["catch_up"] == "none"
    out = tmp_path / "beat.txt"
    with worker_thread(scheduled.app, queues=["default"], schedule=True):
        wait_for(lambda: out.exists() and len(out.read_text().split()) >= 2)
    assert set(out.read_text().split()) == {"tick"}
    states = {s["name"]: s for s in json.loads(schedule_list("--json"))}
    beat = states["beat"]
    assert beat["last_status"] == "success" and beat["last_tick"] is not None
    assert beat["next_fire"] > beat["last_tick"]
    run = tasks.record_order.using(backend="scheduled").get_result(beat["last_task"])
    assert run.status == SUCCESSFUL and run.args == [str(out), "tick"]  # a Django result
    assert states["nightly"]["last_tick"] is None
    table = schedule_list()
    lines = table.splitlines()
    assert "schedule" in lines[1] and "next fire" in lines[1] and "last run" in lines[1]
    beat_line = next(line for line in lines if " beat " in line)
    assert f"{SHOP}.record_order" in beat_line and "every 1 s" in beat_line
    assert "success" in beat_line and "UTC" in beat_line


def test_the_worker_command_fires_the_schedule_once_per_tick(
    tmp_path: Path,
    start_worker: Callable[..., Worker],  # noqa: F811
) -> None:
    """Two ``qtasks_worker --schedule`` processes: each tick runs once."""
    out = tmp_path / "beat.txt"
    with tasks_with(scheduled=test_settings.scheduled_backend(str(out))):
        app = compat.task_backends()["scheduled"].app
        app.flush_all()
        env = {"QTASKS_DJANGO_TEST_SCHEDULE": str(out)}
        workers = [start_worker("--backend", "scheduled", "--schedule", env=env) for _ in "ab"]
        try:
            wait_for(lambda: out.exists() and len(out.read_text().split()) >= 4, timeout=60)
        finally:
            for worker in workers:
                assert worker.stop() == 0, worker.log()
        assert "schedules beat, nightly" in workers[0].log()
        sent = ticks(app)
        assert len(sent) == len(set(sent)) >= 4  # each tick once, whoever sent it
        assert len(out.read_text().split()) == len(sent)
        app.flush_all()


ticks = stored_ticks


def test_the_worker_refuses_schedule_without_schedules() -> None:
    with pytest.raises(CommandError, match=r"TASKS\['default'\] has no schedules"):
        call_command("qtasks_worker", "--schedule", "--burst", stdout=io.StringIO())


def test_the_list_of_a_backend_without_schedules() -> None:
    out = io.StringIO()
    call_command("qtasks_schedule", "list", stdout=out)
    assert out.getvalue().strip() == "TASKS['default'] has no schedules (OPTIONS['schedule'])"
    with pytest.raises(CommandError, match="no QTasksBackend TASKS\\['nope'\\]"):
        call_command("qtasks_schedule", "list", "--backend", "nope", stdout=io.StringIO())


@pytest.mark.django_db(databases=["queue"], transaction=True)
def test_schedules_fire_on_a_django_database_queue(tmp_path: Path) -> None:
    """On ``django://`` a tick is sent on the queue's own connections (a unique task needs
    two statements, so it never goes through Django's connection)."""
    out = tmp_path / "beat.txt"
    options = {
        "broker_url": "django://queue?schema=djsched",
        "schedule": {"beat": {"task": f"{SHOP}.record_order", "every": 1, "args": [str(out), "t"]}},
    }
    with tasks_with(indb_sched={"BACKEND": test_settings._BACKEND, "OPTIONS": options}):
        app = compat.task_backends()["indb_sched"].app
        try:
            app.flush_all()
            with closing_worker_thread(app):
                wait_for(lambda: out.exists() and len(out.read_text().split()) >= 2)
            assert len(ticks(app)) == len(set(ticks(app))) >= 2
        finally:
            app.close()


@contextmanager
def closing_worker_thread(app: Any) -> Iterator[None]:
    """``worker_thread(app, schedule=True)`` that closes, on its loop, the app's connection
    the scheduler sent ticks on (left open, PostgreSQL cannot drop the test database)."""
    worker = app.make_worker(queues=["default"], schedule=True)
    loops: list[asyncio.AbstractEventLoop] = []
    ready = threading.Event()

    async def serve() -> None:
        loops.append(asyncio.get_running_loop())
        ready.set()
        try:
            await worker.run(install_signals=False)
        finally:
            await app._client.close()  # as `qtasks timer` does

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield
    finally:
        loops[0].call_soon_threadsafe(worker.request_stop)
        thread.join(30)
        assert not thread.is_alive()
