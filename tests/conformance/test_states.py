"""``State`` on every transport, with a real worker: QTasks' own example, the operations,
sync and async state classes, and what the state is shared by (the tasks of one app in
this process, across its workers) and what it is not (another app, another class)."""

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import pytest

from qtasks import Depends, QueueTasks
from qtasks.asyncio import QueueTasks as AsyncQueueTasks
from qtasks.core.status import TaskStatusEnum
from qtasks.plugins import AsyncState, SyncState
from qtasks.registries import AsyncTask
from qtasks.testing import drain, worker_thread


@pytest.fixture
def make_app() -> Iterator[Callable[[str], QueueTasks]]:
    made: list[QueueTasks] = []

    def make(broker_url: str) -> QueueTasks:
        made.append(QueueTasks(broker_url=broker_url))
        return made[-1]

    yield make
    for app in made:
        app.close()


def returned(app: QueueTasks, record: Any) -> Any:
    found = app.get(record.uuid)
    assert found is not None and found.status == TaskStatusEnum.SUCCESS, found
    return found.returning


def test_qtasks_example_two_steps_share_a_state(
    broker_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``examples/states/based_async_states_app.py`` and ``test_async_task_wait_states.py``,
    unchanged but for the broker URL (and the worker in a thread, not ``run_forever``)."""
    app = AsyncQueueTasks(broker_url=broker_url)

    class MyState(AsyncState):
        pass

    @app.task
    async def step1(state: MyState):  # type: ignore[no-untyped-def]
        await state.set("state", "await_phone")
        await state.update(step=1, prompt="Enter your phone number")
        return "ok"

    @app.task(echo=True)
    async def step2(self: AsyncTask, state: MyState):  # type: ignore[no-untyped-def,type-arg]
        print(await state.get_all())

        cur = await state.get("state")
        if cur != "await_phone":
            return "error"
        await state.update(step=2)
        await state.delete("state")
        await state.clear()
        return "ok"

    async def main() -> Any:
        await step1.add_task(timeout=50)
        task = await step2.add_task(timeout=50)
        print(task)
        return task

    async def run_example() -> Any:
        try:
            return await main()
        finally:
            await app.close()  # on the loop that used the client

    with worker_thread(app):
        task = asyncio.run(run_example())
    assert task is not None and task.status == TaskStatusEnum.SUCCESS
    assert task.returning == "ok"
    printed = capsys.readouterr().out
    assert "{'state': 'await_phone', 'step': 1, 'prompt': 'Enter your phone number'}" in printed


def test_every_documented_operation(broker_url: str, make_app: Callable[[str], QueueTasks]) -> None:
    app = make_app(broker_url)

    class Dialog(AsyncState):
        pass

    class Form(SyncState):
        pass

    @app.task
    async def async_ops(state: Dialog) -> list[Any]:
        seen = [await state.get("missing", default="none")]
        await state.set("state", "await_phone")
        seen.append(await state.update(step=1, prompt="phone?"))
        seen.append(await state.get("step"))
        await state.delete("state")
        await state.delete("never there")
        seen.append(await state.get())  # no key: every value
        await state.clear()
        seen.append(await state.get_all())
        return seen

    @app.task
    def sync_ops(form: Form) -> list[Any]:
        form.set("name", "Ann")
        seen = [form.update(age=30), form.get("name"), form.get("x", 0)]
        form.delete("age")
        seen.append(form.get_all())
        return seen

    records = [async_ops.add_task(), sync_ops.add_task()]
    drain(app)
    assert returned(app, records[0]) == [
        "none",
        {"state": "await_phone", "step": 1, "prompt": "phone?"},
        1,
        {"step": 1, "prompt": "phone?"},
        {},
    ]
    assert returned(app, records[1]) == [{"name": "Ann", "age": 30}, "Ann", 0, {"name": "Ann"}]


def test_state_is_per_class_and_per_app_and_outlives_a_worker(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app, other_app = make_app(broker_url), make_app(broker_url)

    class Cart(SyncState):
        pass

    class Wishlist(SyncState):
        pass

    @app.task
    def add(item: str, cart: Cart) -> list[str]:  # a state parameter anywhere: not an argument
        cart.set("items", [*cart.get("items", []), item])
        return list(cart.get("items"))

    @app.task
    def wishes(wishlist: Wishlist) -> dict[str, Any]:
        return wishlist.get_all()

    first = add.add_task("pen")
    drain(app)
    second, empty = add.add_task(item="ink"), wishes.add_task()
    drain(app)  # a second worker of the same app, in this process: the same state
    assert returned(app, first) == ["pen"]
    assert returned(app, second) == ["pen", "ink"]
    assert returned(app, empty) == {}  # another class: another bucket

    other_app.register(add)  # the same task on another app: that app's own state
    elsewhere = other_app.tasks["add"].add_task("cup")
    drain(other_app)
    assert returned(other_app, elsewhere) == ["cup"]


def test_concurrent_sync_tasks_never_lose_a_write(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    threads: set[int] = set()

    class Tally(SyncState):
        pass

    @app.task
    def record(i: int, tally: Tally) -> int:
        threads.add(threading.get_ident())
        return len(tally.update(**{f"k{i}": i}))

    @app.task
    async def total(tally: Annotated[Tally, "Annotated is accepted too"]) -> int:
        return sum((await asyncio.to_thread(tally.get_all)).values())

    records = [record.add_task(i) for i in range(40)]
    drain(app, concurrency=8)
    assert sorted(returned(app, r) for r in records)[-1] == 40
    last = total.add_task()
    drain(app)
    assert returned(app, last) == sum(range(40))


def test_a_dependency_can_take_the_state(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)

    class Session(AsyncState):
        pass

    async def user(state: Session) -> str:
        return str(await state.get("user", "anonymous"))

    @app.task
    async def login(name: str, state: Session) -> None:
        await state.set("user", name)

    @app.task
    async def greet(who: Annotated[str, Depends(user)]) -> str:
        return f"hello {who}"

    before = greet.add_task()
    drain(app)
    login.add_task("ann")
    drain(app)
    after = greet.add_task()
    drain(app)
    assert returned(app, before) == "hello anonymous"
    assert returned(app, after) == "hello ann"
