"""Pydantic models as task parameters and return values.

They need the ``pydantic`` extra, installed from your checkout of qtasks:
``pip install ".[pydantic]"`` (``pip install qtasks`` from the package index installs
QTasks, a different project).

The worker applies QTasks' rule before each call. For every parameter annotated
with a ``pydantic.BaseModel`` subclass (``Model``, ``Model | None``,
``Annotated[Model, ...]``), in signature order:

- passed by name (``item={"name": "a", "value": 1}``): validated into the model;
- otherwise the keyword arguments named like the model's fields are taken out of
  the call and build the model;
- if those alone do not validate: a JSON object given positionally where the
  parameter stands is validated as the model (what a chain step receives from a
  step that returned a model), else the missing fields are filled, in field order,
  from the positional arguments that follow those of the parameters before it.

A validation failure raises :class:`TaskArgumentsError` (pydantic's message
attached): the run is stored as ``error`` and dead-lettered, never retried. A
returned model, or a list of them (a generator task's items), is stored as
``model_dump(mode="json")``.

Nothing here imports pydantic: while no module has imported it, no task can be
annotated with a model, and both steps cost one dictionary lookup.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qtasks.core.errors import QTasksError


class TaskArgumentsError(QTasksError, ValueError):
    """A task's arguments do not validate as the pydantic model a parameter is annotated with."""


@dataclass(frozen=True, slots=True)
class _ModelParam:
    name: str
    model: Any
    """The ``BaseModel`` subclass."""
    position: int | None
    """Index among the positional parameters (after an echo ``self``), ``None`` if keyword-only."""
    optional: bool
    """Annotated ``Model | None``: a ``None`` passed by name stays ``None``."""
    has_default: bool
    """Given nothing at all (no field, no positional left), it keeps its default."""


#: ``_build``'s answer for a parameter with a default that the call gives nothing for.
_OMIT: Any = object()


@dataclass(frozen=True, slots=True)
class _Plan:
    positional: tuple[str, ...]
    """Names of the positional parameters, in order (an echo ``self`` left out)."""
    models: tuple[_ModelParam, ...]


def bind_models(
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    skip_first: bool,
    task_name: str,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The call's arguments with every model parameter built (unchanged when there is none)."""
    if sys.modules.get("pydantic") is None:  # not imported (or blocked): no task uses a model
        return args, kwargs
    plan = _plan(func, skip_first)  # cached per function
    if plan is None:
        return args, kwargs
    from pydantic import ValidationError

    try:
        return _bind(plan, args, kwargs)
    except _BindError as exc:
        cause = exc.__cause__
        detail = str(cause) if isinstance(cause, ValidationError) else str(exc)
        raise TaskArgumentsError(
            f"task {task_name!r}: the arguments do not build {exc.model.__name__} for "
            f"parameter {exc.param!r}: {detail}"
        ) from cause


def dump_models(value: Any) -> Any:
    """A returned model (or list of models) as JSON-ready data; anything else unchanged."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is None:
        return value
    base = pydantic.BaseModel
    if isinstance(value, base):
        return value.model_dump(mode="json")
    if isinstance(value, list) and any(isinstance(item, base) for item in value):
        return [item.model_dump(mode="json") if isinstance(item, base) else item for item in value]
    return value


class _BindError(Exception):
    def __init__(self, param: str, model: Any) -> None:
        super().__init__(param)
        self.param = param
        self.model = model


def _bind(
    plan: _Plan, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    from pydantic import ValidationError

    models = {m.name: m for m in plan.models}
    kwargs = dict(kwargs)
    out: list[Any] = []  # positional arguments of the call, rebuilt in order
    cursor = 0  # next unused incoming positional argument
    for index, name in enumerate(plan.positional):
        param = models.get(name)
        if param is None:
            if name not in kwargs and cursor < len(args):
                out.append(args[cursor])
                cursor += 1
            continue
        try:
            value, cursor = _build(param, args, cursor, kwargs)
        except ValidationError as exc:
            raise _BindError(name, param.model) from exc
        if value is _OMIT:
            continue
        if len(out) == index:  # every parameter before it went positionally: so does this one
            out.append(value)
        else:
            kwargs[name] = value
    for param in plan.models:
        if param.position is None:
            try:
                value, cursor = _build(param, args, cursor, kwargs)
            except ValidationError as exc:
                raise _BindError(param.name, param.model) from exc
            if value is not _OMIT:
                kwargs[param.name] = value
    out.extend(args[cursor:])  # *args, or too many arguments: Python reports those
    return tuple(out), kwargs


def _build(
    param: _ModelParam, args: tuple[Any, ...], cursor: int, kwargs: dict[str, Any]
) -> tuple[Any, int]:
    """The model for one parameter, and the new cursor; takes the used kwargs out."""
    from pydantic import ValidationError

    model = param.model
    if param.name in kwargs:
        given = kwargs.pop(param.name)
        if isinstance(given, model) or (given is None and param.optional):
            return given, cursor
        return model.model_validate(given), cursor
    fields = list(model.model_fields)
    data = {f: kwargs[f] for f in fields if f in kwargs}
    if not data and cursor >= len(args) and param.has_default:
        return _OMIT, cursor
    try:
        value = model(**data)
    except ValidationError:
        if not data and cursor < len(args) and isinstance(args[cursor], dict):
            try:
                value = model.model_validate(args[cursor])
            except ValidationError:
                pass
            else:
                return value, cursor + 1
        for field in fields:
            if field not in data and cursor < len(args):
                data[field] = args[cursor]
                cursor += 1
        value = model(**data)
    for field in data:
        kwargs.pop(field, None)
    return value, cursor


@functools.lru_cache(maxsize=4096)
def _plan(func: Callable[..., Any], skip_first: bool) -> _Plan | None:
    """Which parameters are models; ``None`` (the common case) when none is."""
    try:
        signature = inspect.signature(func, eval_str=True)
    except (NameError, TypeError, ValueError):  # an annotation names something not importable
        try:
            signature = inspect.signature(func)
        except (TypeError, ValueError):
            return None
    params = list(signature.parameters.values())[1 if skip_first else 0 :]
    params = [p for p in params if not _injected(p)]  # the worker fills those, not the caller
    positional_kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = tuple(p.name for p in params if p.kind in positional_kinds)
    models: list[_ModelParam] = []
    for param in params:
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        model, optional = _model_class(param.annotation)
        if model is not None:
            position = positional.index(param.name) if param.kind in positional_kinds else None
            has_default = param.default is not inspect.Parameter.empty
            models.append(_ModelParam(param.name, model, position, optional, has_default))
    return _Plan(positional=positional, models=tuple(models)) if models else None


def _injected(param: inspect.Parameter) -> bool:
    """A parameter the worker fills (a ``Depends(...)`` default or ``Annotated`` item, a
    ``State`` class annotation): marked ``__qtasks_injected__``, so this layer need not
    import the plugins defining them."""
    marks = [param.default, param.annotation]
    if typing.get_origin(param.annotation) is typing.Annotated:
        marks.extend(typing.get_args(param.annotation))
    return any(getattr(mark, "__qtasks_injected__", False) is True for mark in marks)


def _model_class(annotation: Any) -> tuple[Any, bool]:
    """The ``BaseModel`` subclass an annotation names (else ``None``), and whether it is
    ``Optional``."""
    from pydantic import BaseModel

    optional = False
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) != 1:
            return None, False
        optional = len(members) < len(typing.get_args(annotation))
        annotation = members[0]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, optional
    return None, False
