"""What a function's signature asks the worker for, worked out once per task definition.

A task's *plan* lists its injected parameters (``Depends`` ones and ``State`` ones), the
dependency graph behind them (a dependency's own ``Depends`` / ``State`` parameters), and
where each dependency is built:

- ``worker``: a worker-lived scope (``worker``, ``broker``, ``storage``, ``global_config``),
  built once per worker on its event loop;
- ``thread``: a sync dependency of a sync task that runs on the thread pool, built and torn
  down in the task's own thread, just before and after the call (so a thread-bound
  resource such as a ``sqlite3`` connection is used where it was made);
- ``loop``: everything else (async dependencies, and the sync dependencies of async tasks,
  of ``executor="loop"`` / ``"process"`` tasks, or that an async dependency needs).

Each dependency function appears once in a plan: two parameters (or two dependencies)
naming the same function with the same lifetime share one value per run (per worker for
worker-lived ones). Errors (a cycle, a worker-lived dependency needing a per-run one, a
dependency parameter nothing fills) are kept in the plan and fail each run of the task.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qtasks.core.definition import TaskDefinition
from qtasks.plugins.depends.markers import Depends, DependsError
from qtasks.plugins.states.fsm import state_class

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


@dataclass(eq=False, slots=True)
class Node:
    """One dependency function of a plan."""

    func: Callable[..., Any]
    label: str
    lifetime: str
    """``"task"`` or ``"worker"``."""
    is_async: bool
    """Needs the event loop (a coroutine or async generator function, an async context manager)."""
    params: tuple[tuple[str, Target], ...] = ()
    """Its own injected parameters (passed by keyword)."""
    where: str = "loop"
    """``"worker"``, ``"loop"`` or ``"thread"`` (see the module's docstring)."""


#: What fills an injected parameter: a dependency, or a state class (an instance per run).
Target = Node | type


@dataclass(frozen=True, slots=True)
class Plan:
    """The injected parameters of one task definition and how to fill them."""

    params: tuple[tuple[str, Target], ...]
    positional: tuple[tuple[str, bool], ...]
    """The task's positional parameters (an echo ``self`` left out): (name, positional-only)."""
    skip_first: bool
    """The first positional argument is the echo ``self``."""
    worker_nodes: tuple[Node, ...] = ()
    loop_nodes: tuple[Node, ...] = ()
    thread_nodes: tuple[Node, ...] = ()
    """Each list in build order (a dependency before what needs it)."""
    error: DependsError | None = None
    names: frozenset[str] = field(default=frozenset())


def label_of(func: Any) -> str:
    """How messages name a dependency function."""
    return str(getattr(func, "__qualname__", None) or repr(func))


def signature_of(func: Callable[..., Any]) -> inspect.Signature | None:
    """``func``'s signature, string annotations evaluated where they can be."""
    try:
        return inspect.signature(func, eval_str=True)
    except (NameError, TypeError, ValueError, AttributeError, SyntaxError):
        try:
            return inspect.signature(func)
        except (TypeError, ValueError):
            return None


def injected(param: inspect.Parameter, *, accept_annotated: bool = True) -> Depends | type | None:
    """What fills ``param`` in the worker: a ``Depends`` (its default, or the last one in its
    ``Annotated`` metadata), a state class (its annotation), or ``None`` (the caller's)."""
    if isinstance(param.default, Depends):
        return param.default
    annotation = param.annotation
    if typing.get_origin(annotation) is typing.Annotated:
        for item in reversed(typing.get_args(annotation)[1:]):
            if isinstance(item, Depends):
                return item
    return state_class(annotation, accept_annotated=accept_annotated)


def _is_async(func: Any) -> bool:
    if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
        return True
    if inspect.isasyncgenfunction(getattr(func, "__wrapped__", None)):  # @asynccontextmanager
        return True
    if isinstance(func, type):
        return hasattr(func, "__aenter__")
    return callable(func) and inspect.iscoroutinefunction(type(func).__call__)


def plan_for(definition: TaskDefinition, *, accept_annotated: bool = True) -> Plan | None:
    """The plan of ``definition``, or ``None`` when nothing in its signature is injected."""
    signature = signature_of(definition.func)
    if signature is None:
        return None
    params = list(signature.parameters.values())[1 if definition.echo else 0 :]
    wanted = [
        (p.name, found)
        for p in params
        if p.kind not in _VARIADIC
        and (found := injected(p, accept_annotated=accept_annotated)) is not None
    ]
    if not wanted:
        return None
    positional = tuple(
        (p.name, p.kind is inspect.Parameter.POSITIONAL_ONLY)
        for p in params
        if p.kind in _POSITIONAL
    )
    names = frozenset(name for name, _ in wanted)
    builder = _Builder(accept_annotated)
    try:
        targets = tuple((name, builder.target(found)) for name, found in wanted)
    except DependsError as exc:
        error = DependsError(f"task {definition.name!r}: {exc}")
        return Plan(params=(), positional=positional, skip_first=definition.echo, error=error)
    nodes = builder.order
    _place(nodes, threaded=not definition.kind.is_async and definition.executor not in _ON_LOOP)
    return Plan(
        params=targets,
        positional=positional,
        skip_first=definition.echo,
        worker_nodes=tuple(n for n in nodes if n.where == "worker"),
        loop_nodes=tuple(n for n in nodes if n.where == "loop"),
        thread_nodes=tuple(n for n in nodes if n.where == "thread"),
        names=names,
    )


#: Sync tasks whose function is called on the event loop (or in a child process fed from it).
_ON_LOOP = ("loop", "process")


def _place(nodes: list[Node], *, threaded: bool) -> None:
    """Decide where each node is built (``nodes`` in build order)."""
    for node in nodes:
        if node.lifetime == "worker":
            node.where = "worker"
        else:
            node.where = "thread" if threaded and not node.is_async else "loop"
    for node in reversed(nodes):  # every node before the ones it needs
        if node.where == "thread":
            continue
        for _, child in node.params:  # built before it, so where it is built
            if isinstance(child, Node) and child.where == "thread":
                child.where = "loop"


class _Builder:
    """Walks the dependency graph depth first, refusing cycles."""

    def __init__(self, accept_annotated: bool) -> None:
        self.accept_annotated = accept_annotated
        self.order: list[Node] = []
        self._built: dict[tuple[int, str], Node] = {}
        self._path: list[tuple[tuple[int, str], str]] = []

    def target(self, found: Depends | type) -> Target:
        return self.node(found) if isinstance(found, Depends) else found

    def node(self, dep: Depends) -> Node:
        key = (id(dep.func), dep.lifetime)
        done = self._built.get(key)
        if done is not None:
            return done
        label = label_of(dep.func)
        if any(k == key for k, _ in self._path):
            chain = [name for _, name in self._path[[k for k, _ in self._path].index(key) :]]
            raise DependsError(f"dependency cycle: {' -> '.join([*chain, label])}")
        self._path.append((key, label))
        try:
            params = self._params(dep, label)
        finally:
            self._path.pop()
        node = Node(func=dep.func, label=label, lifetime=dep.lifetime, is_async=_is_async(dep.func))
        node.params = params
        self._built[key] = node
        self.order.append(node)
        return node

    def _params(self, dep: Depends, label: str) -> tuple[tuple[str, Target], ...]:
        signature = signature_of(dep.func)
        if signature is None:
            return ()
        params: list[tuple[str, Target]] = []
        for param in signature.parameters.values():
            if param.kind in _VARIADIC:
                continue
            found = injected(param, accept_annotated=self.accept_annotated)
            if found is None:
                if param.default is inspect.Parameter.empty:
                    raise DependsError(
                        f"parameter {param.name!r} of dependency {label} has no value: give it "
                        "a default, a Depends(...) or a State annotation"
                    )
                continue
            target = self.target(found)
            if isinstance(target, Node) and dep.lifetime == "worker" and target.lifetime == "task":
                raise DependsError(
                    f"dependency {label} (scope {dep.scope!r}) lives longer than "
                    f"{target.label} (scope 'task') that it needs"
                )
            params.append((param.name, target))
        return tuple(params)
