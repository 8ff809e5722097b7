"""Every app name is a namespace: two apps on one broker never touch each other's tasks.

Run on every transport through the ``broker_url`` fixture, at the broker seam (two
brokers of one URL, each bound to an app name) and through two real apps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from qtasks import QueueTasks
from qtasks.brokers.urls import broker_factory
from qtasks.core.broker import Broker
from qtasks.core.errors import ConfigurationError
from qtasks.core.records import CancelState, DeadLetterQuery, Outcome
from qtasks.core.status import TaskStatusEnum
from qtasks.testing import drain
from tests.conformance.test_broker_contract import LEASE, WORKER, envelope, keep, success

#: Names that need escaping somewhere: hash-tag braces, the key separator, NUL, non-ASCII.
AWKWARD_NAMES = ["billing", "a:b", "{tag}", "x}{y", "nul\0name", "façade-é-名前", "%7B"]

EVERYTHING = DeadLetterQuery()


@pytest.fixture
async def pair(broker_url: str) -> AsyncIterator[tuple[Broker, Broker]]:
    """Brokers of two apps ("billing" and "mail") on the same URL."""
    billing = broker_factory(broker_url, "billing")()
    mail = broker_factory(broker_url, "mail")()
    await billing.connect()
    await mail.connect()
    yield billing, mail
    await billing.close()
    await mail.close()


async def test_a_worker_claims_only_its_own_apps_tasks(pair: tuple[Broker, Broker]) -> None:
    billing, mail = pair
    theirs = envelope("only_in_mail")
    await mail.enqueue([theirs])
    assert await billing.claim(["default"], 10, lease=LEASE, worker_id=WORKER, wait=0.2) == []
    got = await mail.claim(["default"], 10, lease=LEASE, worker_id=WORKER, wait=0)
    assert [d.id for d in got] == [theirs.id]


async def test_records_are_read_only_through_their_own_app(pair: tuple[Broker, Broker]) -> None:
    billing, mail = pair
    theirs = envelope("t")
    await mail.enqueue([theirs])
    assert await billing.get(theirs.id) is None
    assert await billing.wait(theirs.id, 0.1) is None
    assert await billing.count() == {}
    assert await billing.count(["default"]) == {}
    assert await mail.count() == {"new": 1}
    assert await billing.cancel(theirs.id, "no", retention=keep(60)) is CancelState.UNKNOWN
    stored = await mail.get(theirs.id)
    assert stored is not None and stored.status is TaskStatusEnum.NEW


async def test_flush_all_empties_one_app(pair: tuple[Broker, Broker]) -> None:
    billing, mail = pair
    mine, theirs = envelope("t"), envelope("t")
    await billing.enqueue([mine])
    await mail.enqueue([theirs])
    await billing.flush_all()
    assert await billing.get(mine.id) is None
    assert await mail.get(theirs.id) is not None
    got = await mail.claim(["default"], 10, lease=LEASE, worker_id=WORKER, wait=0)
    assert [d.id for d in got] == [theirs.id]


async def test_running_tasks_are_renewed_released_and_finished_per_app(
    pair: tuple[Broker, Broker],
) -> None:
    billing, mail = pair
    theirs = envelope("t")
    await mail.enqueue([theirs])
    [delivery] = await mail.claim(["default"], 1, lease=LEASE, worker_id=WORKER, wait=0)
    # billing's worker cannot touch mail's running task, even with the same worker id
    await billing.extend([theirs.id], lease=LEASE, worker_id=WORKER)
    await billing.release([theirs.id], worker_id=WORKER, retention=keep(60))
    await billing.complete([success(theirs.id, 1)], retention=keep(60))
    stored = await mail.get(theirs.id)
    assert stored is not None and stored.status is TaskStatusEnum.PROCESS
    await mail.complete([success(delivery.id, 2)], retention=keep(60))
    stored = await mail.get(theirs.id)
    assert stored is not None and stored.status is TaskStatusEnum.SUCCESS


async def test_lease_recovery_is_per_app(pair: tuple[Broker, Broker]) -> None:
    billing, mail = pair
    theirs = envelope("t")
    await mail.enqueue([theirs])
    await mail.claim(["default"], 1, lease=0.05, worker_id=WORKER, wait=0)
    await asyncio.sleep(0.1)
    assert await billing.recover_expired(max_attempts=5, retention=keep(60)) == 0
    stored = await mail.get(theirs.id)
    assert stored is not None and stored.status is TaskStatusEnum.PROCESS
    assert await mail.recover_expired(max_attempts=5, retention=keep(60)) == 1
    got = await mail.claim(["default"], 1, lease=LEASE, worker_id=WORKER, wait=0)
    assert [(d.id, d.attempt) for d in got] == [(theirs.id, 2)]


async def test_dead_letters_and_expiry_are_per_app(pair: tuple[Broker, Broker]) -> None:
    billing, mail = pair
    dead, short = envelope("boom"), envelope("quick")
    await mail.enqueue([dead, short])
    await mail.claim(["default"], 2, lease=LEASE, worker_id=WORKER, wait=0)
    failed = Outcome(
        id=dead.id,
        status=TaskStatusEnum.ERROR,
        traceback="Traceback: boom",
        error_type="builtins.ValueError",
        finished_at=time.time(),
        queue="default",
    )
    await mail.complete([failed], retention=keep(60))
    await mail.complete([success(short.id)], retention=keep(0.05))
    assert await billing.dead_letters(EVERYTHING) == []
    assert await billing.requeue_dead(EVERYTHING) == 0
    assert await billing.purge_dead(EVERYTHING) == 0
    assert [t.id for t in await mail.dead_letters(EVERYTHING)] == [dead.id]
    await asyncio.sleep(0.1)
    assert await billing.purge_expired() == 0
    await mail.purge_expired()
    assert await mail.get(short.id) is None
    assert await mail.requeue_dead(EVERYTHING) == 1


@pytest.mark.parametrize("name", AWKWARD_NAMES)
async def test_any_app_name_is_its_own_namespace(broker_url: str, name: str) -> None:
    mine = broker_factory(broker_url, name)()
    # a prefix of the name, and the name with a separator added, are other apps
    neighbours = [broker_factory(broker_url, other)() for other in (name[:-1] or "_", name + ":")]
    for b in (mine, *neighbours):
        await b.connect()
    try:
        task = envelope("t", queue="q:{1}")
        await mine.enqueue([task])
        for other in neighbours:
            assert await other.get(task.id) is None
            assert await other.claim(["q:{1}"], 5, lease=LEASE, worker_id=WORKER, wait=0) == []
            await other.flush_all()
        got = await mine.claim(["q:{1}"], 5, lease=LEASE, worker_id=WORKER, wait=0)
        assert [d.id for d in got] == [task.id]
        await mine.complete([success(task.id, "ok")], retention=keep(60))
        stored = await mine.wait(task.id, 5)
        assert stored is not None and stored.status is TaskStatusEnum.SUCCESS
        assert await mine.count() == {"success": 1}
    finally:
        for b in (mine, *neighbours):
            await b.flush_all()
            await b.close()


def test_two_apps_on_one_broker_run_only_their_own_tasks(broker_url: str) -> None:
    billing = QueueTasks(name="billing", broker_url=broker_url)
    mail = QueueTasks(name="mail", broker_url=broker_url)

    @billing.task(name="charge")
    def charge(amount: int) -> int:
        return amount

    @mail.task(name="send")
    def send(to: str) -> str:
        return to

    try:
        to_mail = mail.add_task("send", "ann@example.org")
        to_billing = billing.add_task("charge", 5)
        foreign = mail.add_task("charge", 7)  # only billing registers "charge"
        assert to_mail and to_billing and foreign
        drain(billing)
        done = billing.get(to_billing.uuid)
        assert done is not None and done.status == TaskStatusEnum.SUCCESS
        assert billing.get(to_mail.uuid) is None
        waiting = mail.get(to_mail.uuid)
        assert waiting is not None and waiting.status == TaskStatusEnum.NEW
        still = mail.get(foreign.uuid)
        assert still is not None and still.status == TaskStatusEnum.NEW  # not failed by billing
        billing.flush_all()
        assert mail.count() == {"new": 2}
        drain(mail)
        result = mail.get(to_mail.uuid)
        assert result is not None and result.returning == "ann@example.org"
    finally:
        billing.flush_all()
        mail.flush_all()
        billing.close()
        mail.close()


@pytest.mark.parametrize("bad", ["", "bad\ud800"])
def test_an_app_name_that_cannot_be_a_namespace_is_refused(bad: str) -> None:
    with pytest.raises((ValueError, ConfigurationError), match="app name"):
        QueueTasks(name=bad, broker_url="memory://names")
