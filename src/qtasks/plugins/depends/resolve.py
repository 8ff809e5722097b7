"""Building dependency values and tearing them down: on the loop, in a task's thread, or
once per worker.

What a dependency function is decides how it is entered and what its teardown is:

- generator / async generator function: the value it yields; the rest of the generator,
  resumed normally, is the teardown (it always runs, as in QTasks, and never sees the
  run's exception);
- context manager (a class, a ``@contextmanager`` / ``@asynccontextmanager`` function, or
  what a plain function returns): entered, and exited with the run's exception, as a
  ``with`` block would (so a transaction manager rolls back a failed run);
- async function or anything awaitable: the awaited value, used as it is;
- plain function: its return value.

Teardown happens in reverse build order and can never hide the run's own error: a
context manager's ``__exit__`` returning true does not turn a failed run into a success.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import AsyncExitStack, ExitStack
from typing import Any

from qtasks.plugins.depends.plan import Node, Plan, Target
from qtasks.plugins.states.registry import StateRegistry
from qtasks.worker.execute import wait_on_loop

log = logging.getLogger("qtasks.depends")

#: Built dependency values of one run (and of its worker), by node.
Values = dict[Node, Any]


def _has(value: Any, *names: str) -> bool:
    kind = type(value)
    return all(hasattr(kind, name) for name in names)


def _kwargs(node: Node, values: Values, registry: StateRegistry) -> dict[str, Any]:
    return {name: value_of(target, values, registry) for name, target in node.params}


def value_of(target: Target, values: Values, registry: StateRegistry) -> Any:
    """A built dependency's value, or a fresh state object of a state class."""
    if isinstance(target, Node):
        return values[target]
    return target(registry, target)


async def enter_on_loop(
    stack: AsyncExitStack, node: Node, values: Values, registry: StateRegistry
) -> Any:
    """Build ``node`` on the event loop, its teardown pushed on ``stack``."""
    func, kwargs = node.func, _kwargs(node, values, registry)
    if inspect.isasyncgenfunction(func):
        return await _enter_async_generator(stack, func(**kwargs), node.label)
    if inspect.isgeneratorfunction(func):
        return _enter_generator(stack, func(**kwargs), node.label)
    value = func(**kwargs)
    if inspect.isawaitable(value):
        return await value
    if _has(value, "__aenter__", "__aexit__"):
        return await stack.enter_async_context(value)
    if _has(value, "__enter__", "__exit__"):
        return stack.enter_context(value)
    return value


def enter_in_thread(
    stack: ExitStack,
    node: Node,
    values: Values,
    registry: StateRegistry,
    loop: asyncio.AbstractEventLoop,
) -> Any:
    """Build a sync ``node`` in a worker thread; what turns out to need the loop (a plain
    function returning an awaitable or an async context manager) is run there."""
    func, kwargs = node.func, _kwargs(node, values, registry)
    if inspect.isgeneratorfunction(func):
        return _enter_generator(stack, func(**kwargs), node.label)
    value = func(**kwargs)
    if inspect.isawaitable(value):
        return wait_on_loop(value, loop)
    if _has(value, "__aenter__", "__aexit__"):
        entered = wait_on_loop(value.__aenter__(), loop)
        stack.push(lambda *exc: wait_on_loop(value.__aexit__(*exc), loop))
        return entered
    if _has(value, "__enter__", "__exit__"):
        return stack.enter_context(value)
    return value


def _enter_generator(stack: ExitStack | AsyncExitStack, gen: Generator[Any], label: str) -> Any:
    try:
        value = next(gen)
    except StopIteration:
        raise RuntimeError(f"dependency {label} did not yield a value") from None

    def finish() -> None:
        try:
            next(gen)
        except StopIteration:
            return
        gen.close()
        raise RuntimeError(f"dependency {label} yielded more than once")

    stack.callback(finish)
    return value


async def _enter_async_generator(
    stack: AsyncExitStack, agen: AsyncGenerator[Any], label: str
) -> Any:
    try:
        value = await agen.__anext__()
    except StopAsyncIteration:
        raise RuntimeError(f"dependency {label} did not yield a value") from None

    async def finish() -> None:
        try:
            await agen.__anext__()
        except StopAsyncIteration:
            return
        await agen.aclose()
        raise RuntimeError(f"dependency {label} yielded more than once")

    stack.push_async_callback(finish)
    return value


def call_arguments(
    plan: Plan,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    values: Values,
    registry: StateRegistry,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The task's call with every injected parameter filled.

    The caller's positional arguments fill the parameters that are *not* injected, in
    order (``def task(db: Annotated[DB, Depends(get_db)], x)`` is enqueued as
    ``task.add_task(5)``); a value the caller gave by name for an injected parameter is
    dropped: the dependency wins, as in QTasks.
    """
    filled = {name: value_of(target, values, registry) for name, target in plan.params}
    head = args[:1] if plan.skip_first else ()
    rest = args[len(head) :]
    out: list[Any] = list(head)
    cursor = 0
    for name, positional_only in plan.positional:
        if name in filled:
            if cursor >= len(rest) and not positional_only:
                break  # nothing positional follows: the rest go by name
            out.append(filled.pop(name))
        elif cursor < len(rest):
            out.append(rest[cursor])
            cursor += 1
        else:
            break
    out.extend(rest[cursor:])
    call_kwargs = {k: v for k, v in kwargs.items() if k not in plan.names}
    call_kwargs.update(filled)
    return tuple(out), call_kwargs


async def exit_stack(stack: AsyncExitStack, error: BaseException | None) -> None:
    """Tear down ``stack``. ``error`` (what the run raised) is handed to context managers;
    a teardown error after it is logged, so the run keeps its own error. After a run that
    went well, a teardown error is raised: it fails the run."""
    if error is None:
        await stack.aclose()
        return
    try:
        await stack.__aexit__(type(error), error, error.__traceback__)
    except BaseException as exc:
        _teardown_failed(exc, error)


def exit_sync_stack(stack: ExitStack, error: BaseException | None) -> None:
    """:func:`exit_stack` for a thread's stack."""
    if error is None:
        stack.close()
        return
    try:
        stack.__exit__(type(error), error, error.__traceback__)
    except BaseException as exc:
        _teardown_failed(exc, error)


def _teardown_failed(exc: BaseException, error: BaseException) -> None:
    if exc is not error:  # a context manager re-raising the run's error is no news
        log.warning(
            "a dependency's teardown failed after the run had failed (%s: %s); the run "
            "keeps its own error",
            type(error).__name__,
            error,
            exc_info=exc,
        )


class WorkerScope:
    """The worker-lived dependency values of one worker: built once, on first use (a lock
    keeps concurrent first uses from building twice), torn down when the worker stops."""

    def __init__(self) -> None:
        self.stack = AsyncExitStack()
        self._values: dict[tuple[int, str], tuple[Callable[..., Any], Any]] = {}
        self._lock = asyncio.Lock()

    @staticmethod
    def _key(node: Node) -> tuple[int, str]:
        return (id(node.func), node.lifetime)

    async def fill(self, nodes: tuple[Node, ...], values: Values, registry: StateRegistry) -> None:
        """Put the value of each of ``nodes`` (in build order) into ``values``."""
        if all(self._key(n) in self._values for n in nodes):  # the usual case: built
            for node in nodes:
                values[node] = self._values[self._key(node)][1]
            return
        async with self._lock:
            for node in nodes:  # a dependency before what needs it: its value is in values
                key = self._key(node)
                if key not in self._values:
                    value = await enter_on_loop(self.stack, node, values, registry)
                    self._values[key] = (node.func, value)
                values[node] = self._values[key][1]

    async def close(self) -> None:
        """Tear every value down, the last built first."""
        self._values.clear()
        await self.stack.aclose()
