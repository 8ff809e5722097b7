"""The hook chain's own rules, without a broker: order, which hooks join a task's chain,
how a failing hook is reported, and the fast path when nothing applies."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from qtasks.core.definition import TaskDefinition, TaskKind
from qtasks.core.envelope import Envelope
from qtasks.core.errors import HookError, TaskTimeoutError
from qtasks.core.hooks import CallNext, Hook, HookChain, Run
from qtasks.core.records import Delivery, Outcome
from qtasks.core.status import TaskStatusEnum


def definition(**options: Any) -> TaskDefinition:
    return TaskDefinition(name="t", func=lambda: None, kind=TaskKind.SYNC, **options)


def a_run(task: TaskDefinition) -> Run:
    envelope = Envelope(id="1", task_name=task.name, queue="default", created_at=0.0, eta=0.0)
    return Run(
        definition=task,
        envelope=envelope,
        delivery=Delivery(id="1", body=b"", attempt=1),
        worker=None,
        args=(),
        kwargs={},
    )


def success() -> Outcome:
    return Outcome(id="1", status=TaskStatusEnum.SUCCESS, finished_at=0.0)


class Recorder(Hook):
    def __init__(self, name: str, journal: list[str], order: int = 500) -> None:
        self.name, self.journal, self.order = name, journal, order

    async def execute(self, run: Run, call_next: CallNext) -> Any:
        self.journal.append(f"{self.name} in")
        value = await call_next(run)
        self.journal.append(f"{self.name} out")
        return value

    async def outcome(self, run: Run, outcome: Outcome, error: BaseException | None) -> Outcome:
        self.journal.append(f"{self.name} outcome")
        return outcome


def test_execute_runs_outer_first_and_outcome_inner_first() -> None:
    journal: list[str] = []
    chain = HookChain()
    chain.add(Recorder("late", journal, order=900))
    chain.add(Recorder("first", journal))
    chain.add(Recorder("second", journal))  # same order: after the one added before it
    chain.add(Recorder("outer", journal, order=100))
    task = definition()
    run = a_run(task)

    async def innermost(run: Run) -> int:
        journal.append("task")
        return 7

    tasks = chain.for_task(task)
    assert asyncio.run(tasks.execute(run, innermost)) == 7
    asyncio.run(tasks.outcome(run, success(), None))
    assert journal == [
        "outer in", "first in", "second in", "late in", "task",
        "late out", "second out", "first out", "outer out",
        "late outcome", "second outcome", "first outcome", "outer outcome",
    ]  # fmt: skip


def test_a_hook_joins_only_the_tasks_it_applies_to_and_the_chain_is_built_once() -> None:
    asked: list[str] = []

    class OnlyLimited(Recorder):
        def applies(self, definition: TaskDefinition) -> bool:
            asked.append(definition.name)
            return definition.max_time is not None

    chain = HookChain((OnlyLimited("x", []),))
    plain, limited = definition(), definition(max_time=1.0)
    assert chain.for_task(plain).empty
    assert chain.for_task(plain).empty
    assert not chain.for_task(limited).empty
    assert asked == ["t", "t"]  # once per definition, not per run
    chain.add(Hook())  # a hook overriding nothing never joins a chain
    assert chain.for_task(plain).empty and len(asked) == 3  # re-asked after a change


def test_a_failing_hook_is_named_and_the_tasks_own_errors_pass_unchanged() -> None:
    class Broken(Hook):
        async def execute(self, run: Run, call_next: CallNext) -> Any:
            raise KeyError("no such key")

    class Watching(Hook):
        order = 100

        async def execute(self, run: Run, call_next: CallNext) -> Any:
            return await call_next(run)

    task = definition()
    chain = HookChain((Watching(), Broken()))
    with pytest.raises(HookError, match=r"hook .*Broken failed in execute: KeyError") as info:
        asyncio.run(chain.for_task(task).execute(a_run(task), _never))
    assert isinstance(info.value.__cause__, KeyError)  # the original is kept, not rewrapped

    own = ValueError("the task's own")

    async def failing(run: Run) -> Any:
        run.task_error = own
        raise own

    with pytest.raises(ValueError) as raised:
        asyncio.run(HookChain((Watching(),)).for_task(task).execute(a_run(task), failing))
    assert raised.value is own

    class Limiting(Hook):
        async def execute(self, run: Run, call_next: CallNext) -> Any:
            raise TaskTimeoutError("too slow")  # one of ours, on purpose: not a hook failure

    with pytest.raises(TaskTimeoutError):
        asyncio.run(HookChain((Limiting(),)).for_task(task).execute(a_run(task), _never))


def test_a_failing_outcome_hook_fails_the_task_and_the_outer_hooks_still_see_it() -> None:
    seen: list[Outcome] = []

    class Broken(Hook):
        order = 900

        async def outcome(self, run: Run, outcome: Outcome, error: BaseException | None) -> Outcome:
            raise RuntimeError("storage of metrics is down")

    class Observer(Hook):
        order = 100

        async def outcome(self, run: Run, outcome: Outcome, error: BaseException | None) -> Outcome:
            seen.append(outcome)
            assert isinstance(error, HookError)
            return outcome

    task = definition()
    chain = HookChain((Broken(), Observer()))
    final = asyncio.run(chain.for_task(task).outcome(a_run(task), success(), None))
    assert final.status is TaskStatusEnum.ERROR and seen == [final]
    assert final.error_type == "qtasks.core.errors.HookError"
    assert "storage of metrics is down" in (final.traceback or "")


def test_enqueue_points_are_skipped_when_no_hook_overrides_them() -> None:
    chain = HookChain((Recorder("x", []),))
    assert not chain.watches_enqueue

    class Stamp(Hook):
        async def before_enqueue(self, call: Any) -> None:
            call.headers["stamp"] = "1"

    chain.add(Stamp())
    assert chain.watches_enqueue
    chain.remove(chain.of_type(Stamp)[0])
    assert not chain.watches_enqueue


def test_only_hooks_can_be_added() -> None:
    with pytest.raises(TypeError, match=r"qtasks\.hooks\.Hook"):
        HookChain().add(object())  # type: ignore[arg-type]


async def _never(run: Run) -> Any:  # pragma: no cover - a hook above it failed first
    raise AssertionError("the task ran")
