"""The objects QTasks passes to some triggers, built from our records.

- ``model=`` of ``worker_execute_before`` / ``worker_execute_after``: a
  :class:`TaskStatusModel` with the fields of QTasks' ``TaskStatus*Schema``
  (``status``, ``task_name``, ``priority``, ``args`` / ``kwargs`` as JSON text,
  ``created_at``, ``updated_at``, and after the run ``returning`` (JSON text) or
  ``traceback``);
- ``args_info=`` of ``task_executor_args_replace``: a list of :class:`ArgMeta`, one per
  parameter of the task function (QTasks' ``qtasks.schemas.argmeta.ArgMeta``: the value
  is the parameter's default, ``None`` for a positional one without a default).
"""

from __future__ import annotations

import inspect
import json
import time
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from qtasks.core.envelope import Envelope
from qtasks.core.records import Outcome
from qtasks.core.status import TaskStatusEnum


@dataclass(slots=True, kw_only=True)
class TaskStatusModel:
    """A task's state as QTasks' status schemas carry it."""

    status: str
    task_name: str
    priority: int
    args: str
    kwargs: str
    created_at: float
    updated_at: float
    returning: str | None = None
    traceback: str | None = None


def process_model(envelope: Envelope) -> TaskStatusModel:
    """The ``process`` model of a run about to start."""
    return TaskStatusModel(
        status=TaskStatusEnum.PROCESS.value,
        task_name=envelope.task_name,
        priority=envelope.priority,
        args=json.dumps(list(envelope.args), default=repr),
        kwargs=json.dumps(envelope.kwargs, default=repr),
        created_at=envelope.created_at,
        updated_at=time.time(),
    )


def outcome_model(envelope: Envelope, outcome: Outcome) -> TaskStatusModel:
    """The model of a finished run (``success``, ``error``, ``retry``, ``cancel``)."""
    model = process_model(envelope)
    model.status = outcome.status.value
    model.updated_at = outcome.finished_at
    model.returning = None if outcome.result is None else outcome.result.decode()
    model.traceback = outcome.traceback
    return model


@dataclass(slots=True, kw_only=True)
class ArgMeta:
    """One parameter of a task function."""

    name: str
    value: Any
    origin: Any
    raw_type: Any
    annotation: Any
    is_kwarg: bool
    index: int | None = None
    key: str | None = None


def args_info(func: Any) -> list[ArgMeta]:
    """The parameters of ``func``: positional ones without a default first (value
    ``None``), then those with a default (value: the default)."""
    try:
        parameters = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return []
    try:
        hints = inspect.get_annotations(func, eval_str=True)
    except Exception:  # an annotation that names something not importable here
        hints = getattr(func, "__annotations__", {})
    positional: list[ArgMeta] = []
    named: list[ArgMeta] = []
    for name, parameter in parameters.items():
        annotation = hints.get(name)
        meta: dict[str, Any] = {
            "name": name,
            "origin": get_origin(annotation),
            "raw_type": get_args(annotation)[0] if get_args(annotation) else annotation,
            "annotation": annotation,
        }
        if parameter.default is not inspect.Parameter.empty:
            named.append(ArgMeta(value=parameter.default, is_kwarg=True, key=name, **meta))
        elif parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            positional.append(ArgMeta(value=None, is_kwarg=False, index=len(positional), **meta))
    return positional + named
