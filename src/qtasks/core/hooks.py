"""The one chain of hooks around enqueue and execution.

Everything that acts around a task without being the engine itself is a
:class:`Hook` on an app's :class:`HookChain`: retries, time limits, events,
Django signals, QTasks plugins and middlewares, ``Depends``. The worker's
loop and the client call the chain at fixed points and name none of them.

The hook points, in the order they happen to one task (each a no-op on
:class:`Hook`; override the ones you need):

==================  ======================  ==============================================
where               hook                    what it may do
==================  ======================  ==============================================
caller's process    ``before_enqueue``      change the :class:`EnqueueCall` (name, args,
                                            kwargs, priority, eta, headers); raising
                                            aborts the enqueue, the caller gets the error
caller's process    ``after_enqueue``       observe the message sent; an error is logged
                                            (the task is already queued), never raised
caller's process    ``on_get``              replace the record ``app.get`` returns
worker              ``worker_start``        set up (a worker-wide resource); raising
                                            stops the worker from starting, with the error
worker              ``execute``             wrap the call: ``await call_next(run)`` runs
                                            the rest of the chain and the task; may change
                                            ``run.args`` / ``run.kwargs`` before and the
                                            value after
worker              ``outcome``             replace the :class:`Outcome` stored (retries
                                            turn an error into a retry here)
worker              ``worker_stop``         tear down; an error is logged, the stop goes on
==================  ======================  ==============================================

Order. Hooks are sorted by :attr:`Hook.order` (smaller = outer), then by the
order they were added. ``execute`` runs outer → inner (the first hook sees the
call first and the value last); ``outcome`` runs inner → outer, so an outer
hook sees what the inner ones decided (an event hook sees ``retry``, not the
``error`` the retry hook turned it into). Built-in positions: tracing 50,
metrics 60, the task log 80, events 100, Django signals 200, plugins and user
hooks 500 (the default), QTasks middlewares 600, ``Depends`` 700, retries 900,
time limit 1000 (innermost: it limits the task, not the hooks).

Failures. A hook's exception in ``execute`` or ``outcome`` fails *that task*
with :class:`~qtasks.core.errors.HookError` naming the hook (its cause and
traceback kept) and never the worker; the task's own exceptions, and our own
errors a hook raises on purpose (``TaskTimeoutError``, ``TaskCancelledError``,
``TaskPluginTriggerError``: any ``QTasksError``), pass through unchanged.
``before_enqueue`` and ``on_get`` errors reach the caller.

Cost. A hook joins the chain of a task only when :meth:`Hook.applies` says so
(a time limit only for tasks with ``max_time``), and a hook point a hook does
not override is never called: with nothing to run, a task is called directly.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qtasks.core.errors import HookError, QTasksError, exception_path, format_error
from qtasks.core.status import TaskStatusEnum

if TYPE_CHECKING:
    from qtasks.core.definition import TaskDefinition
    from qtasks.core.envelope import Envelope
    from qtasks.core.records import Delivery, Outcome

log = logging.getLogger("qtasks.hooks")

#: The default position of a hook: between the observers (events) and the engine's own.
DEFAULT_ORDER = 500


@dataclass(slots=True, kw_only=True)
class EnqueueCall:
    """One call being enqueued, as ``before_enqueue`` may change it."""

    app: Any
    """The app enqueuing (``QueueTasks`` or ``qtasks.asyncio.QueueTasks``)."""
    task_name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    priority: int | None
    """``None``: the task's default priority."""
    eta: float | None
    """Unix time it may start; ``None``: now."""
    headers: dict[str, str] = field(default_factory=dict)
    """Carried with the message to the worker (``run.envelope.headers``)."""
    extra: dict[str, Any] | None = None
    """QTasks' ``extra`` (what a plugin's ``qtasks_add_task_before_broker`` returned)."""


@dataclass(slots=True, kw_only=True)
class Run:
    """One execution of a task in a worker, as ``execute`` and ``outcome`` hooks see it."""

    definition: TaskDefinition
    envelope: Envelope
    delivery: Delivery
    worker: Any
    """The :class:`~qtasks.worker.Worker` running it."""
    args: tuple[Any, ...]
    """The arguments the function is called with (the echo ``self`` first, if any)."""
    kwargs: dict[str, Any]
    echo: Any = None
    """The task object an ``echo=True`` task receives, else ``None``."""
    value: Any = None
    """What the task returned (set once it did; what ``execute`` hooks return replaces it)."""
    scratch: dict[Any, Any] = field(default_factory=dict)
    """Per-run state a hook keeps between its ``execute`` and its ``outcome``."""
    task_error: BaseException | None = None
    """What the task itself raised (told apart from a hook's failure)."""
    started: float = field(default_factory=time.perf_counter)
    """``time.perf_counter()`` when the run began: a run's duration, for logs and metrics."""


#: The rest of the chain, as an ``execute`` hook calls it.
CallNext = Callable[[Run], Awaitable[Any]]


class Hook:
    """Base class: every hook point a no-op. Subclass and override what you need."""

    order: int = DEFAULT_ORDER
    """Position in the chain: smaller is outer (see the module's table)."""

    @property
    def hook_name(self) -> str:
        """How errors and logs name this hook."""
        return type(self).__qualname__

    def applies(self, definition: TaskDefinition) -> bool:
        """Whether this hook joins the execution chain of ``definition`` (asked once per task)."""
        return True

    async def before_enqueue(self, call: EnqueueCall) -> None:
        """Before a call becomes a message: change ``call`` in place, or raise to refuse it."""

    async def after_enqueue(self, call: EnqueueCall, envelope: Envelope) -> None:
        """After the message was handed to the broker."""

    async def on_get(self, app: Any, record: Any) -> Any:
        """The record ``app.get`` returns (``None`` for unknown): return it or a replacement."""
        return record

    async def worker_start(self, worker: Any) -> None:
        """A worker connected and is about to claim tasks."""

    async def worker_stop(self, worker: Any) -> None:
        """A worker finished its last task and is about to close its broker connection."""

    async def execute(self, run: Run, call_next: CallNext) -> Any:
        """Around the call: return ``await call_next(run)`` (or a replacement value)."""
        return await call_next(run)

    async def outcome(self, run: Run, outcome: Outcome, error: BaseException | None) -> Outcome:
        """The outcome to store; ``error`` is what failed the run (``None`` if it did not)."""
        return outcome


def _overrides(hook: Hook, point: str) -> bool:
    return getattr(type(hook), point) is not getattr(Hook, point)


@dataclass(frozen=True, slots=True)
class TaskChain:
    """The hooks of one task's execution, in order; built once per definition."""

    executing: tuple[Hook, ...]
    """Hooks overriding ``execute``, outer first."""
    finishing: tuple[Hook, ...]
    """Hooks overriding ``outcome``, inner first."""

    @property
    def empty(self) -> bool:
        return not self.executing and not self.finishing

    async def execute(self, run: Run, innermost: CallNext) -> Any:
        """Run the ``execute`` hooks around ``innermost`` (the task itself)."""
        call = innermost
        for hook in reversed(self.executing):
            call = _layer(hook, call)
        return await call(run)

    async def outcome(self, run: Run, outcome: Outcome, error: BaseException | None) -> Outcome:
        """Pass the outcome through the ``outcome`` hooks, inner first."""
        for hook in self.finishing:
            try:
                outcome = await hook.outcome(run, outcome, error)
            except Exception as exc:
                error = _hook_error(hook, "outcome", exc)
                outcome = failed_outcome(outcome, error)
        return outcome


def _layer(hook: Hook, call_next: CallNext) -> CallNext:
    async def layer(run: Run) -> Any:
        try:
            return await hook.execute(run, call_next)
        except Exception as exc:
            if exc is run.task_error or isinstance(exc, QTasksError):
                # the task's own exception passing through, or one of ours that says what
                # happened (an inner hook's HookError, a TaskTimeoutError, a cancellation)
                raise
            raise _hook_error(hook, "execute", exc) from exc

    return layer


def _hook_error(hook: Hook, point: str, exc: Exception) -> HookError:
    error = HookError(f"hook {hook.hook_name} failed in {point}: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def failed_outcome(outcome: Outcome, error: BaseException) -> Outcome:
    """``outcome`` turned into an ``error`` one for ``error`` (a hook that failed)."""
    return dataclasses.replace(
        outcome,
        status=TaskStatusEnum.ERROR,
        result=None,
        retry=None,
        traceback=format_error(error),
        error_type=exception_path(error),
    )


class HookChain:
    """An app's hooks, kept sorted; hands each task the part of the chain that applies."""

    def __init__(self, hooks: tuple[Hook, ...] = ()) -> None:
        self._hooks: list[Hook] = []
        self._tasks: dict[int, tuple[TaskDefinition, TaskChain]] = {}
        self._enqueuing: tuple[Hook, ...] = ()
        self._enqueued: tuple[Hook, ...] = ()
        self._getting: tuple[Hook, ...] = ()
        for hook in hooks:
            self.add(hook)

    def __iter__(self) -> Any:
        return iter(tuple(self._hooks))

    def add(self, hook: Hook) -> Hook:
        """Add ``hook`` at its :attr:`~Hook.order` (after hooks of the same order)."""
        if not isinstance(hook, Hook):
            raise TypeError(f"a hook must be a qtasks.hooks.Hook, got {hook!r}")
        self._hooks.append(hook)
        self._hooks.sort(key=lambda h: h.order)  # stable: same order keeps insertion order
        self._tasks.clear()
        self._enqueuing = tuple(h for h in self._hooks if _overrides(h, "before_enqueue"))
        self._enqueued = tuple(h for h in self._hooks if _overrides(h, "after_enqueue"))
        self._getting = tuple(h for h in self._hooks if _overrides(h, "on_get"))
        return hook

    def remove(self, hook: Hook) -> None:
        """Take ``hook`` out of the chain."""
        rest = [h for h in self._hooks if h is not hook]
        self._hooks = []
        for kept in rest:
            self.add(kept)
        self._tasks.clear()

    def of_type(self, kind: type[Any]) -> list[Any]:
        """The hooks that are instances of ``kind``."""
        return [h for h in self._hooks if isinstance(h, kind)]

    # enqueue side ----------------------------------------------------------------------

    @property
    def watches_enqueue(self) -> bool:
        """True when some hook runs around enqueue (else the client skips building calls)."""
        return bool(self._enqueuing or self._enqueued)

    async def before_enqueue(self, call: EnqueueCall) -> None:
        for hook in self._enqueuing:
            await hook.before_enqueue(call)

    async def after_enqueue(self, call: EnqueueCall, envelope: Envelope) -> None:
        for hook in self._enqueued:
            try:
                await hook.after_enqueue(call, envelope)
            except Exception:
                log.exception("hook %s failed after enqueuing task %s", hook.hook_name, envelope.id)

    async def on_get(self, app: Any, record: Any) -> Any:
        for hook in self._getting:
            record = await hook.on_get(app, record)
        return record

    # worker side -----------------------------------------------------------------------

    def for_task(self, definition: TaskDefinition) -> TaskChain:
        """The execution chain of ``definition`` (cached)."""
        cached = self._tasks.get(id(definition))
        if cached is not None and cached[0] is definition:
            return cached[1]
        applying = [h for h in self._hooks if h.applies(definition)]
        chain = TaskChain(
            executing=tuple(h for h in applying if _overrides(h, "execute")),
            finishing=tuple(h for h in reversed(applying) if _overrides(h, "outcome")),
        )
        self._tasks[id(definition)] = (definition, chain)
        return chain

    async def worker_start(self, worker: Any) -> None:
        for hook in self._hooks:
            if _overrides(hook, "worker_start"):
                await hook.worker_start(worker)

    async def worker_stop(self, worker: Any) -> None:
        for hook in reversed(self._hooks):
            if _overrides(hook, "worker_stop"):
                try:
                    await hook.worker_stop(worker)
                except Exception:
                    log.exception("hook %s failed while worker %s stopped", hook.hook_name, worker)
