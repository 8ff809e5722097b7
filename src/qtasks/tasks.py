"""Task handles: what ``@app.task`` returns.

``SyncTask`` (sync apps and routers) and ``AsyncTask`` (``qtasks.asyncio``)
differ only in whether ``add_task`` blocks or is awaited; both forward to the
one async implementation on the app. A handle has the task's options as
attributes (``task.priority``, ``task.retry``, …, as QTasks' task objects).
Calling a handle builds a typed ``TaskCall`` (checked against the function's
signature by mypy/pyright) whose ``add_task`` enqueues it; chains are made of
these. Like QTasks' ``TaskCls``, the call keeps ``priority=``, ``timeout=`` and
``task_name=`` for itself, out of the task's arguments.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, Unpack, overload

from qtasks.core.definition import TaskDefinition, TaskOptionsView
from qtasks.core.errors import ConfigurationError
from qtasks.core.result import Task
from qtasks.declare import Declaration, TaskOptions

if TYPE_CHECKING:
    from qtasks.app import AppCore
    from qtasks.sending import CallSpec

P = ParamSpec("P")
R = TypeVar("R")

#: Every task handle by the module its function lives in (for Django's autodiscovery).
#: Weakly: a module keeps its tasks alive; this registry must not keep every app (and its
#: broker connections) alive after its last use.
_declared: dict[str, list[weakref.ref[TaskHandle[Any, Any]]]] = {}


def declared_in(module: str) -> list[TaskHandle[Any, Any]]:
    """Every task declared in ``module``: on any app, a router, or with ``shared_task``."""
    alive = [handle for ref in _declared.get(module, ()) if (handle := ref()) is not None]
    if module in _declared:
        _declared[module] = [weakref.ref(handle) for handle in alive]
    return alive


class TaskHandle(TaskOptionsView, Generic[P, R]):
    """A registered task: its definition (options as attributes) and the app it is sent through."""

    def __init__(
        self,
        definition: TaskDefinition,
        app: AppCore[Any] | None = None,
        *,
        declaration: Declaration | None = None,
    ) -> None:
        self.definition = definition
        self._apps: list[AppCore[Any]] = [] if app is None else [app]
        #: For tasks declared without an app: rebuilt with the first app's config.
        self._declaration = declaration
        module = getattr(definition.func, "__module__", None) or "<unknown>"
        _declared.setdefault(module, []).append(weakref.ref(self))

    @property
    def task_name(self) -> str:
        return self.definition.name

    @property
    def func(self) -> Callable[P, R]:
        return self.definition.func

    @property
    def app(self) -> AppCore[Any]:
        """The app this task is sent through: the first it was registered on."""
        if not self._apps:
            raise ConfigurationError(
                f"task {self.task_name!r} is not registered on any QueueTasks app yet "
                "(include its router, or create the app after declaring the shared task)"
            )
        return self._apps[0]

    def definition_for(self, app: AppCore[Any]) -> TaskDefinition:
        """The definition this task has once registered on ``app``."""
        if not self._apps and self._declaration is not None:
            return self._declaration.build(app.config)
        return self.definition

    def _bind(self, app: AppCore[Any]) -> None:
        if not self._apps:
            self.definition = self.definition_for(app)
        if app not in self._apps:
            self._apps.append(app)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.task_name!r}>"


class TaskCall(Generic[R]):
    """A task with its arguments, ready to enqueue (``add(1, 2).add_task()``) or chain.

    ``priority`` / ``timeout`` / ``task_name`` given when the call was built apply to its
    ``add_task()`` (which may override the first two); ``task_name`` sends the arguments to
    another registered task, as QTasks' ``task_name=`` does.
    """

    def __init__(
        self,
        handle: TaskHandle[Any, R],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        priority: int | None = None,
        timeout: float | None = None,
        task_name: str | None = None,
    ) -> None:
        self.handle = handle
        self.args = args
        self.kwargs = kwargs
        self.priority = priority
        self.timeout = timeout
        self._task_name = task_name

    @property
    def task_name(self) -> str:
        return self._task_name or self.handle.task_name

    def with_args(self, *extra: Any) -> TaskCall[R]:
        """The same call with positional arguments appended (how chains pass results on)."""
        return type(self)(
            self.handle,
            (*self.args, *extra),
            self.kwargs,
            priority=self.priority,
            timeout=self.timeout,
            task_name=self._task_name,
        )

    def _enqueue(
        self,
        priority: int | None,
        timeout: float | None,
        eta: datetime | float | None,
        countdown: float | None,
        unique_key: str | None = None,
        unique_for: float | None = None,
    ) -> Coroutine[Any, Any, Task | None]:
        """The one enqueue coroutine both ``add_task`` spellings run."""
        return self.handle.app._add_task(
            self.task_name,
            self.args,
            self.kwargs,
            priority=self.priority if priority is None else priority,
            timeout=self.timeout if timeout is None else timeout,
            eta=start_time(eta, countdown),
            unique_key=unique_key,
            unique_for=unique_for,
        )


def _call_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Take ``priority`` / ``timeout`` / ``task_name`` out of a call's keyword arguments."""
    return {key: kwargs.pop(key, None) for key in ("priority", "timeout", "task_name")}


def start_time(eta: datetime | float | None, countdown: float | None) -> float | None:
    """Unix time a task may start: ``eta`` (datetime, naive = local, or unix time) or now +
    ``countdown`` seconds; ``None`` for at once."""
    if eta is not None and countdown is not None:
        raise ValueError("give eta or countdown, not both")
    if countdown is not None:
        return time.time() + countdown
    if isinstance(eta, datetime):
        return eta.timestamp()
    return eta


class SyncTaskCall(TaskCall[R]):
    def add_task(
        self,
        *,
        priority: int | None = None,
        timeout: float | None = None,
        eta: datetime | float | None = None,
        countdown: float | None = None,
        unique_key: str | None = None,
        unique_for: float | None = None,
    ) -> Task | None:
        """Enqueue (not before ``eta`` / ``countdown`` seconds from now); with ``timeout``
        (here or given when the call was built), wait for and return the final record
        (``None`` on timeout). ``unique_key`` / ``unique_for``: see docs/unique.md."""
        call = self._enqueue(priority, timeout, eta, countdown, unique_key, unique_for)
        return self.handle.app._sync(call)


class AsyncTaskCall(TaskCall[R]):
    async def add_task(
        self,
        *,
        priority: int | None = None,
        timeout: float | None = None,
        eta: datetime | float | None = None,
        countdown: float | None = None,
        unique_key: str | None = None,
        unique_for: float | None = None,
    ) -> Task | None:
        """Enqueue (not before ``eta`` / ``countdown`` seconds from now); with ``timeout``
        (here or given when the call was built), wait for and return the final record
        (``None`` on timeout). ``unique_key`` / ``unique_for``: see docs/unique.md."""
        return await self._enqueue(priority, timeout, eta, countdown, unique_key, unique_for)


class SyncTask(TaskHandle[P, R]):
    """A task whose ``add_task`` blocks (``qtasks.QueueTasks``, ``SyncRouter``)."""

    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> SyncTaskCall[R]: ...
    @overload
    def __call__(
        self, *args: Any, priority: int | None, timeout: float | None = ..., **kwargs: Any
    ) -> SyncTaskCall[R]: ...
    @overload
    def __call__(self, *args: Any, timeout: float | None, **kwargs: Any) -> SyncTaskCall[R]: ...
    @overload
    def __call__(self, *args: Any, task_name: str, **kwargs: Any) -> SyncTaskCall[R]: ...
    def __call__(self, *args: Any, **kwargs: Any) -> SyncTaskCall[R]:
        return SyncTaskCall(self, args, kwargs, **_call_options(kwargs))

    def add_task(
        self,
        *args: Any,
        priority: int | None = None,
        timeout: float | None = None,
        task_name: str | None = None,
        unique_key: str | None = None,
        unique_for: float | None = None,
        **kwargs: Any,
    ) -> Task | None:
        """Enqueue ``func(*args, **kwargs)`` (or the task named ``task_name``); with
        ``timeout``, wait for the final record. ``unique_key`` / ``unique_for``: while a
        task holding the key waits or runs (or for ``unique_for`` seconds), its record is
        returned instead of a new task's (``record.deduplicated``; docs/unique.md)."""
        app = self.app
        return app._sync(
            app._add_task(
                task_name or self.task_name,
                args,
                kwargs,
                priority=priority,
                timeout=timeout,
                unique_key=unique_key,
                unique_for=unique_for,
            )
        )

    def add_tasks(
        self, arg_tuples: Iterable[Sequence[Any]], *, priority: int | None = None
    ) -> list[Task]:
        """Enqueue one call per tuple of positional arguments, in one round trip."""
        calls: list[CallSpec] = [(self.task_name, tuple(args), {}) for args in arg_tuples]
        return self.app._sync(self.app._add_tasks(calls, priority=priority))


class AsyncTask(TaskHandle[P, R]):
    """A task whose ``add_task`` is awaited (``qtasks.asyncio.QueueTasks``, ``AsyncRouter``)."""

    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> AsyncTaskCall[R]: ...
    @overload
    def __call__(
        self, *args: Any, priority: int | None, timeout: float | None = ..., **kwargs: Any
    ) -> AsyncTaskCall[R]: ...
    @overload
    def __call__(self, *args: Any, timeout: float | None, **kwargs: Any) -> AsyncTaskCall[R]: ...
    @overload
    def __call__(self, *args: Any, task_name: str, **kwargs: Any) -> AsyncTaskCall[R]: ...
    def __call__(self, *args: Any, **kwargs: Any) -> AsyncTaskCall[R]:
        return AsyncTaskCall(self, args, kwargs, **_call_options(kwargs))

    async def add_task(
        self,
        *args: Any,
        priority: int | None = None,
        timeout: float | None = None,
        task_name: str | None = None,
        unique_key: str | None = None,
        unique_for: float | None = None,
        **kwargs: Any,
    ) -> Task | None:
        """Enqueue ``func(*args, **kwargs)`` (or the task named ``task_name``); with
        ``timeout``, wait for the final record. ``unique_key`` / ``unique_for``: see
        docs/unique.md."""
        return await self.app._add_task(
            task_name or self.task_name,
            args,
            kwargs,
            priority=priority,
            timeout=timeout,
            unique_key=unique_key,
            unique_for=unique_for,
        )

    async def add_tasks(
        self, arg_tuples: Iterable[Sequence[Any]], *, priority: int | None = None
    ) -> list[Task]:
        """Enqueue one call per tuple of positional arguments, in one round trip."""
        calls: list[CallSpec] = [(self.task_name, tuple(args), {}) for args in arg_tuples]
        return await self.app._add_tasks(calls, priority=priority)


class _Declarer:
    """The ``.task`` decorator of apps and routers; the subclasses only type it."""

    def _task(self, name: Any, options: dict[str, Any]) -> Any:
        raise NotImplementedError  # AppCore and routers provide it (listed before this mixin)


class SyncDeclarer(_Declarer):
    @overload
    def task(self, name: Callable[P, R]) -> SyncTask[P, R]: ...
    @overload
    def task(
        self, name: str | None = None, **options: Unpack[TaskOptions]
    ) -> Callable[[Callable[P, R]], SyncTask[P, R]]: ...
    def task(self, name: Any = None, **options: Any) -> Any:
        """Declare a task: ``@x.task`` or ``@x.task("name", priority=5, retry=3, ...)``."""
        return self._task(name, options)


class AsyncDeclarer(_Declarer):
    @overload
    def task(self, name: Callable[P, R]) -> AsyncTask[P, R]: ...
    @overload
    def task(
        self, name: str | None = None, **options: Unpack[TaskOptions]
    ) -> Callable[[Callable[P, R]], AsyncTask[P, R]]: ...
    def task(self, name: Any = None, **options: Any) -> Any:
        """Declare a task: ``@x.task`` or ``@x.task("name", priority=5, retry=3, ...)``."""
        return self._task(name, options)
