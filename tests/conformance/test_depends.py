"""``Depends`` on every transport, with a real worker: each kind of dependency function,
each scope and its lifetime, teardown on success, failure and time-out, nested
dependencies and cycles, where sync dependencies run, and how a failing dependency fails
its task and nothing else."""

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any

import pytest

from qtasks import Depends, QueueTasks
from qtasks.config import QueueConfig
from qtasks.core.status import TaskStatusEnum
from qtasks.plugins.depends import DependsHook, ScopeEnum
from qtasks.testing import drain, worker_thread


class Journal:
    """What the dependencies and tasks did, in order (from any thread)."""

    def __init__(self) -> None:
        self.entries: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, entry: Any) -> None:
        with self._lock:
            self.entries.append(entry)

    def count(self, entry: Any) -> int:
        with self._lock:
            return self.entries.count(entry)


@pytest.fixture
def make_app() -> Iterator[Callable[[str], QueueTasks]]:
    made: list[QueueTasks] = []

    def make(broker_url: str) -> QueueTasks:
        made.append(QueueTasks(broker_url=broker_url, config=QueueConfig(retry_backoff=0)))
        return made[-1]

    yield make
    for app in made:
        app.close()


def final(app: QueueTasks, record: Any) -> Any:
    """The record of the task's last attempt (a retried task's last retry)."""
    found = app.get(record.uuid)
    assert found is not None
    while found.status == TaskStatusEnum.RETRY and found.retry_child_uuid is not None:
        found = app.get(found.retry_child_uuid)
        assert found is not None
    return found


def kinds(note: Journal) -> dict[str, Callable[..., Any]]:
    """One dependency of each kind the docs name, each noting its build and teardown."""

    def plain() -> str:
        note("plain")
        return "plain"

    async def coroutine() -> str:
        note("coroutine")
        return "coroutine"

    def generator() -> Iterator[str]:
        note("generator")
        yield "generator"
        note("generator closed")

    async def async_generator() -> AsyncIterator[str]:
        note("async_generator")
        yield "async_generator"
        note("async_generator closed")

    class Manager:
        def __enter__(self) -> str:
            note("manager")
            return "manager"

        def __exit__(self, *exc: Any) -> None:
            note("manager closed")

    class AsyncManager:
        async def __aenter__(self) -> str:
            note("async_manager")
            return "async_manager"

        async def __aexit__(self, *exc: Any) -> None:
            note("async_manager closed")

    @contextmanager
    def decorated() -> Iterator[str]:
        note("decorated")
        yield "decorated"
        note("decorated closed")

    @asynccontextmanager
    async def async_decorated() -> AsyncIterator[str]:
        note("async_decorated")
        yield "async_decorated"
        note("async_decorated closed")

    class Awaitable:  # QTasks' example: an object with __await__
        def __await__(self) -> Any:
            note("awaitable")
            return asyncio.sleep(0, "awaitable").__await__()

    return {
        "plain": plain,
        "coroutine": coroutine,
        "generator": generator,
        "async_generator": async_generator,
        "manager": Manager,
        "async_manager": AsyncManager,
        "decorated": decorated,
        "async_decorated": async_decorated,
        "awaitable": Awaitable,
    }


CLOSING = ["generator", "async_generator", "manager", "async_manager", "decorated"]
CLOSING.append("async_decorated")


@pytest.mark.parametrize("task_kind", ["async", "sync"])
def test_every_kind_of_dependency_is_built_for_each_run_and_torn_down_after_it(
    broker_url: str, make_app: Callable[[str], QueueTasks], task_kind: str
) -> None:
    app = make_app(broker_url)
    note = Journal()
    deps = kinds(note)

    if task_kind == "async":

        @app.task(name="uses_all")
        async def uses_all_async(
            plain: Annotated[str, Depends(deps["plain"])],
            coroutine: str = Depends(deps["coroutine"]),
            generator: str = Depends(deps["generator"]),
            async_generator: str = Depends(deps["async_generator"]),
            manager: str = Depends(deps["manager"]),
            async_manager: str = Depends(deps["async_manager"]),
            decorated: str = Depends(deps["decorated"]),
            async_decorated: str = Depends(deps["async_decorated"]),
            awaitable: str = Depends(deps["awaitable"]),
        ) -> list[str]:
            note("task")
            values = locals().copy()
            return [values[name] for name in deps]

    else:

        @app.task(name="uses_all")
        def uses_all_sync(
            plain: Annotated[str, Depends(deps["plain"])],
            coroutine: str = Depends(deps["coroutine"]),
            generator: str = Depends(deps["generator"]),
            async_generator: str = Depends(deps["async_generator"]),
            manager: str = Depends(deps["manager"]),
            async_manager: str = Depends(deps["async_manager"]),
            decorated: str = Depends(deps["decorated"]),
            async_decorated: str = Depends(deps["async_decorated"]),
            awaitable: str = Depends(deps["awaitable"]),
        ) -> list[str]:
            note("task")
            values = locals().copy()
            return [values[name] for name in deps]

    task = app.tasks["uses_all"]
    first, second = task.add_task(), task.add_task()
    assert drain(app, concurrency=1) == 2
    for record in (first, second):
        done = final(app, record)
        assert done.status == TaskStatusEnum.SUCCESS, done.traceback
        assert done.returning == list(deps)
    # built for each run, torn down after each run (both runs: twice each)
    for name in deps:
        assert note.count(name) == 2
    for name in CLOSING:
        assert note.count(f"{name} closed") == 2
    # one run at a time: every teardown of a run comes after its task, before the next run
    first_run = note.entries[: len(note.entries) // 2]
    task_at = first_run.index("task")
    assert all(not str(e).endswith("closed") for e in first_run[:task_at])
    assert sorted(e for e in first_run[task_at + 1 :]) == sorted(f"{n} closed" for n in CLOSING)


def test_teardown_runs_in_reverse_order_and_after_a_failing_run(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    note = Journal()

    def first() -> Iterator[str]:
        note("first")
        yield "first"
        note("first closed")  # no try/finally: a generator's rest always runs

    class Transaction:
        def __enter__(self) -> str:
            return "tx"

        def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
            note(("tx exit", kind.__name__ if kind else None))
            return True  # tries to swallow the error: the run fails all the same

    @app.task
    async def fails(a: str = Depends(first), tx: str = Depends(Transaction)) -> None:
        note("task")
        raise LookupError("the task's own error")

    record = fails.add_task()
    drain(app)
    done = final(app, record)
    assert done.status == TaskStatusEnum.ERROR
    assert "LookupError: the task's own error" in done.traceback
    assert note.entries == ["first", "task", ("tx exit", "LookupError"), "first closed"]


def test_a_time_limit_still_tears_the_run_down(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    note = Journal()
    sync_closed = threading.Event()

    async def session() -> AsyncIterator[str]:
        yield "session"
        note("session closed")

    def connection() -> Iterator[str]:
        yield "connection"
        sync_closed.set()

    @app.task(max_time=0.2)
    async def slow(s: str = Depends(session)) -> None:
        await asyncio.sleep(30)

    @app.task(max_time=0.2)
    def slow_sync(c: str = Depends(connection)) -> None:
        threading.Event().wait(1.0)  # a thread cannot be stopped: it finishes, then tears down

    records = [slow.add_task(), slow_sync.add_task()]
    drain(app)
    for record in records:
        done = final(app, record)
        assert done.status == TaskStatusEnum.ERROR
        assert "TaskTimeoutError" in done.traceback
    assert note.entries == ["session closed"]
    assert sync_closed.wait(30)


@pytest.mark.parametrize("scope", ["worker", "broker", "storage", "global_config"])
def test_a_worker_scoped_dependency_is_built_once_and_torn_down_when_the_worker_stops(
    broker_url: str, make_app: Callable[[str], QueueTasks], scope: str
) -> None:
    app = make_app(broker_url)
    note = Journal()

    async def pool() -> AsyncIterator[str]:
        note("pool")
        await asyncio.sleep(0.05)  # a slow connect: concurrent first uses must wait for it
        yield "pool"
        note("pool closed")

    def client(p: str = Depends(pool, scope=scope)) -> Iterator[str]:
        note("client")
        yield f"client of {p}"
        note("client closed")

    @app.task
    async def use(i: int, p: str = Depends(pool, scope=scope)) -> str:
        return f"{i} {p}"

    @app.task
    def use_sync(i: int, c: Annotated[str, Depends(client, scope=ScopeEnum(scope))]) -> str:
        return f"{i} {c}"

    records = [use.add_task(i) for i in range(10)] + [use_sync.add_task(i) for i in range(10)]
    with worker_thread(app, concurrency=20):
        for i, record in enumerate(records):
            done = app.wait_result(record.uuid, timeout=30)
            assert done is not None and done.status == TaskStatusEnum.SUCCESS, done
            assert done.returning == (f"{i} pool" if i < 10 else f"{i - 10} client of pool")
        assert note.entries == ["pool", "client"]  # once for 20 tasks, not torn down yet
    assert note.entries == ["pool", "client", "client closed", "pool closed"]

    again = use.add_task(99)  # a new worker builds its own
    drain(app)
    assert final(app, again).returning == "99 pool"
    assert note.count("pool") == 2 and note.count("pool closed") == 2


def test_nested_dependencies_share_one_value_per_run(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    note = Journal()
    counter = iter(range(100))

    def settings() -> dict[str, int]:
        return {"n": next(counter)}

    async def engine(conf: Annotated[dict[str, int], Depends(settings)]) -> AsyncIterator[str]:
        note("engine")
        yield f"engine{conf['n']}"
        note("engine closed")

    def session(
        e: Annotated[str, Depends(engine)], conf: Annotated[dict[str, int], Depends(settings)]
    ) -> str:
        return f"session on {e} ({conf['n']})"

    @app.task
    def report(
        s: Annotated[str, Depends(session)],
        x: int,
        conf: Annotated[dict[str, int], Depends(settings)],
    ) -> list[Any]:
        return [s, x, conf["n"]]

    first = report.add_task(7)  # 7 fills x: the injected parameter before it is skipped
    second = report.add_task(x=8, conf={"n": -1})  # a caller's value: the dependency wins
    drain(app, concurrency=1)
    assert final(app, first).returning == ["session on engine0 (0)", 7, 0]
    assert final(app, second).returning == ["session on engine1 (1)", 8, 1]
    assert note.entries == ["engine", "engine closed"] * 2


def cyclic_a(b: Annotated[int, Depends(lambda: 0)], c: "Annotated[int, Depends(cyclic_b)]") -> int:
    return b + c


def cyclic_b(a: "Annotated[int, Depends(cyclic_a)]") -> int:
    return a


def test_a_cycle_or_a_scope_mismatch_fails_its_task_with_a_clear_error_and_nothing_else(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)

    def per_run() -> str:
        return "per run"

    def shared(x: str = Depends(per_run)) -> str:
        return x

    def needs_an_argument(x: int) -> int:
        return x

    @app.task
    def cycle(v: int = Depends(cyclic_a)) -> int:
        return v

    @app.task
    def mismatch(v: str = Depends(shared, scope="worker")) -> str:
        return v

    @app.task
    def unfilled(v: int = Depends(needs_an_argument)) -> int:
        return v

    @app.task
    def fine(v: str = Depends(per_run)) -> str:
        return v

    records = [cycle.add_task(), mismatch.add_task(), unfilled.add_task(), fine.add_task()]
    drain(app)
    cycle_done, mismatch_done, unfilled_done, fine_done = (final(app, r) for r in records)
    assert cycle_done.status == TaskStatusEnum.ERROR
    assert "DependsError" in cycle_done.traceback
    assert "dependency cycle: cyclic_a -> cyclic_b -> cyclic_a" in cycle_done.traceback
    assert "lives longer than" in mismatch_done.traceback
    assert "parameter 'x' of dependency" in unfilled_done.traceback
    assert fine_done.status == TaskStatusEnum.SUCCESS and fine_done.returning == "per run"


def test_a_raising_dependency_fails_its_task_with_its_own_error(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    note = Journal()
    attempts = iter(range(100))

    def flaky() -> str:
        if next(attempts) == 0:
            raise ConnectionError("database down")
        return "connected"

    def opened() -> Iterator[str]:
        yield "opened"
        note("opened closed")

    def broken_teardown() -> Iterator[str]:
        yield "x"
        raise OSError("commit failed")

    @app.task(retry=1, retry_on_exc=[ConnectionError])
    async def retried(o: str = Depends(opened), db: str = Depends(flaky)) -> str:
        return db

    @app.task
    def never_ok(db: str = Depends(lambda: 1 / 0)) -> str:
        return "unreachable"

    @app.task
    def commit_fails(x: str = Depends(broken_teardown)) -> str:
        return x

    @app.task
    def both_fail(x: str = Depends(broken_teardown)) -> str:
        raise KeyError("the task's own error")

    @app.task
    def bystander() -> str:
        return "ok"

    records = [retried.add_task(), never_ok.add_task(), commit_fails.add_task()]
    records += [both_fail.add_task(), bystander.add_task()]
    drain(app, concurrency=1)
    retried_done, never_done, commit_done, both_done, bystander_done = (
        final(app, r) for r in records
    )
    # ConnectionError reached retry_on_exc as itself; the retry built the dependency again
    assert retried_done.status == TaskStatusEnum.SUCCESS
    assert retried_done.returning == "connected"
    assert note.count("opened closed") == 2  # torn down after the failed build too
    assert never_done.status == TaskStatusEnum.ERROR
    assert "ZeroDivisionError" in never_done.traceback and "HookError" not in never_done.traceback
    assert commit_done.status == TaskStatusEnum.ERROR and "OSError: commit failed" in (
        commit_done.traceback
    )
    # a teardown failing after the task failed: logged, the task's error is what is stored
    assert "KeyError" in both_done.traceback and "commit failed" not in both_done.traceback
    assert bystander_done.status == TaskStatusEnum.SUCCESS


def test_sync_dependencies_run_in_the_thread_that_runs_the_task(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    threads: dict[str, set[int]] = {}  # what happened -> the threads it happened on

    def where(what: str) -> None:
        threads.setdefault(what, set()).add(threading.get_ident())

    def database() -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(":memory:")  # check_same_thread: only usable where it was made
        where(f"connect {id(conn)}")
        yield conn
        conn.close()  # raises ProgrammingError in any other thread
        where(f"close {id(conn)}")

    def sync_helper() -> str:
        where("helper")
        return "helper"

    @app.task
    def query(x: int, db: Annotated[sqlite3.Connection, Depends(database)]) -> int:
        where(f"task {id(db)}")
        return int(db.execute("select ? * 2", (x,)).fetchone()[0])

    @app.task
    def rows(n: int, db: Annotated[sqlite3.Connection, Depends(database)]) -> Iterator[int]:
        where(f"task {id(db)}")
        sql = "with recursive c(i) as (select 1 union select i + 1 from c where i < ?) select i"
        for (value,) in db.execute(f"{sql} from c", (n,)):
            yield value

    @app.task
    async def on_loop(h: str = Depends(sync_helper)) -> str:
        where("async task")
        return h

    records = [query.add_task(21), rows.add_task(3), on_loop.add_task()]
    drain(app)
    assert [final(app, r).returning for r in records] == [42, [1, 2, 3], "helper"]
    connections = [what.split()[1] for what in threads if what.startswith("connect")]
    assert len(connections) == 2
    for conn in connections:  # built, used and closed on one thread, the task's
        assert len(threads[f"connect {conn}"]) == 1
        assert threads[f"connect {conn}"] == threads[f"task {conn}"] == threads[f"close {conn}"]
    assert threads["helper"] == threads["async task"]  # an async task's sync dependency: the loop


def test_injected_parameters_are_not_arguments_of_the_call(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Item(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        name: str
        qty: int

    class Settings(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        currency: str

    app = make_app(broker_url)

    def settings() -> Any:
        return Settings(currency="EUR")

    @app.task(echo=True)
    def price(self: Any, conf: Annotated[Settings, Depends(settings)], item: Item) -> str:
        assert self.task_name == "price"
        return f"{item.qty} x {item.name} in {conf.currency}"

    records = [price.add_task({"name": "pen", "qty": 2}), price.add_task(name="ink", qty=3)]
    drain(app)
    assert [final(app, r).returning for r in records] == ["2 x pen in EUR", "3 x ink in EUR"]


def test_tasks_without_dependencies_run_no_depends_hook(broker_url: str) -> None:
    app = QueueTasks(broker_url=broker_url)
    try:
        (hook,) = app.hooks.of_type(DependsHook)

        @app.task
        def plain(x: int) -> int:
            return x

        @app.task
        def injected(x: int, y: int = Depends(lambda: 1)) -> int:
            return x + y

        assert hook not in app.hooks.for_task(plain.definition_for(app)).executing
        assert hook in app.hooks.for_task(injected.definition_for(app)).executing
        records = [plain.add_task(1), injected.add_task(1)]
        drain(app)
        assert [final(app, r).returning for r in records] == [1, 2]
    finally:
        app.close()


def test_qtasks_examples(broker_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``docs/en/features/depends.md`` and ``examples/depends/*.py``, unchanged but for the
    broker URL (and ``drain`` instead of ``run_forever``)."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from qtasks.asyncio import QueueTasks as AsyncQueueTasks

    # docs/en/features/depends.md
    app: Any = AsyncQueueTasks(broker_url=broker_url)

    @asynccontextmanager
    async def test_dep():  # type: ignore[no-untyped-def]
        print("Open")
        yield 123
        print("Close")

    @app.task
    async def test(dep: Annotated[int, Depends(test_dep, scope=ScopeEnum.TASK)]):  # type: ignore[no-untyped-def]
        print(dep)

    async def enqueue() -> None:
        await test.add_task()
        await app.close()  # the client, on the loop that used it; drain has its own

    asyncio.run(enqueue())
    drain(app)
    assert capsys.readouterr().out == "Open\n123\nClose\n"

    # examples/depends/based_async_depends.py with test_async_depends_wait.py (fewer tasks)
    app = AsyncQueueTasks(broker_url=broker_url)
    app.config.delete_finished_tasks = True
    app.config.running_older_tasks = True
    app.config.logs_default_level_server = 20

    async def test_dep_gen():  # type: ignore[no-untyped-def]
        print("Open")
        try:
            yield 123
        finally:
            print("Close")

    @app.task(name="test")
    async def test_async(dep: Annotated[int, Depends(test_dep_gen, scope=ScopeEnum.TASK)]):  # type: ignore[no-untyped-def]
        print(55555, dep)

    async def main() -> None:
        tasks = [test_async.add_task() for _ in range(50)]
        await asyncio.gather(*tasks)
        await app.close()

    asyncio.run(main())
    drain(app)
    out = capsys.readouterr().out.splitlines()
    assert out.count("Open") == out.count("55555 123") == out.count("Close") == 50

    # examples/depends/based_sync_depends.py with test_sync_depends_wait.py
    sync_app = QueueTasks(broker_url=broker_url)
    sync_app.config.delete_finished_tasks = True

    @contextmanager
    def test_dep_sync():  # type: ignore[no-untyped-def]
        print("Open")
        yield 123
        print("Close")

    @sync_app.task(name="test_sync")
    def test_sync(dep: Annotated[int, Depends(test_dep_sync, scope=ScopeEnum.TASK)]):  # type: ignore[no-untyped-def]
        print(dep)

    with ThreadPoolExecutor(max_workers=4) as executor:
        futures = [executor.submit(test_sync.add_task) for _ in range(10)]
        [f.result() for f in as_completed(futures)]
    drain(sync_app)
    sync_app.close()
    out = capsys.readouterr().out.splitlines()
    assert out.count("Open") == out.count("123") == out.count("Close") == 10
