"""``InspectStats``: what an app is made of — its settings, components and tasks — as
QTasks' ``Stats(app).inspect()`` shows it, as aligned text or as JSON."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from qtasks.brokers.urls import display_url
from qtasks.core.definition import TaskDefinition
from qtasks.core.errors import TaskNotFoundError
from qtasks.version import __version__

#: Width of the label column in the text form (QTasks' layout).
LABEL_WIDTH = 26
RULE = "-" * 50


class InspectStats:
    """Reads an app (sync or async flavour); opens no connection."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def app(self, json: bool = False) -> str:
        """The app: name, flavour, version, broker, counts of tasks, routers, plugins,
        hooks and event handlers, and its settings."""
        return _render([app_info(self._app)], json, closing_rule=True)

    def task(self, task_name: str, json: bool = False) -> str:
        """One registered task: its options and its call signature."""
        return _render([task_info(self._definition(task_name))], json, single=True)

    def tasks(self, *task_names: str, json: bool = False) -> str:
        """The named tasks (default: every registered task), in registration order."""
        names = task_names or tuple(self._app.tasks)
        infos = [task_info(self._definition(name)) for name in names]
        if not infos and not json:
            return "No registered tasks."
        return _render(infos, json)

    def _definition(self, task_name: str) -> TaskDefinition:
        handle = self._app.tasks.get(task_name)
        if handle is None:
            known = ", ".join(sorted(self._app.tasks)) or "none"
            raise TaskNotFoundError(
                f"no task {task_name!r} in app {self._app.name!r}; tasks: {known}"
            )
        definition: TaskDefinition = handle.definition
        return definition


def app_info(app: Any) -> dict[str, Any]:
    """The app's summary, QTasks' labels where the thing exists here."""
    from qtasks.plugins.adapter import PluginHook  # the adapter layer sits above stats' reads

    plugins = sum(len(hook.registry.plugins()) for hook in app.hooks.of_type(PluginHook))
    events = getattr(getattr(app.events, "on", None), "_events", {})
    return {
        "Name": app.name,
        "Method": "async" if type(app).__module__.startswith("qtasks.asyncio") else "sync",
        "Version": __version__,
        "Broker": display_url(app.broker_url),
        "Tasks Count": len(app.tasks),
        "Plugins Count": plugins,
        "Hooks": ", ".join(hook.hook_name for hook in app.hooks),
        "Starter": type(app.starter).__name__ if app.starter is not None else "—",
        "Init Count": sum(len(handlers) for handlers in events.values()),
        "Config": asdict(app.config),
    }


def task_info(definition: TaskDefinition) -> dict[str, Any]:
    """One task's options (those left at their default are left out of the text form's
    optional rows, as QTasks does) and its parameters."""
    args, kwargs = _parameters(definition.func)
    info: dict[str, Any] = {
        "Task name": definition.name,
        "Queue": definition.queue,
        "Priority": definition.priority,
        "Description": definition.description or "—",
        "Tags": ", ".join(definition.tags) or "—",
        "Awaiting": definition.awaiting,
        "Generating": definition.kind.value.endswith("generator"),
        "Task Self": definition.echo,
        "Args": ", ".join(args) or "—",
        "Kwargs": ", ".join(f"{k}={v}" for k, v in kwargs.items()) or "—",
    }
    optional = {
        "Retry Count": definition.retry or None,
        "Retry on Exception": _names(definition.retry_on_exc),
        "Max Time": definition.max_time,
        "Executor": _name(definition.executor),
        "Decode": _name(definition.decode),
        "Generator": _name(definition.generate_handler),
        "Middlewares Before": _names(definition.middlewares_before),
        "Middlewares After": _names(definition.middlewares_after),
        "Acks Early": definition.acks_early or None,
    }
    info.update((label, value) for label, value in optional.items() if value is not None)
    return info


def _parameters(func: Any) -> tuple[list[str], dict[str, str]]:
    """Positional parameters (``name: type``) and keyword ones with their defaults."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # a builtin without a signature
        return ["..."], {}
    args: list[str] = []
    kwargs: dict[str, str] = {}
    for name, param in signature.parameters.items():
        label = name + _annotation(param.annotation)
        if param.kind is param.VAR_POSITIONAL:
            args.append(f"*{label}")
        elif param.kind is param.VAR_KEYWORD:
            kwargs[f"**{label}"] = "..."
        elif param.default is not param.empty:
            kwargs[label] = repr(param.default)
        elif param.kind is param.KEYWORD_ONLY:
            kwargs[label] = "required"
        else:
            args.append(label)
    return args, kwargs


def _annotation(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return ""
    if isinstance(annotation, type):
        return f": {annotation.__name__}"
    return f": {annotation}"


def _name(thing: Any) -> str | None:
    if thing is None:
        return None
    if isinstance(thing, str):
        return thing
    return str(getattr(thing, "__qualname__", None) or thing)


def _names(things: Iterable[Any] | None) -> str | None:
    names = [n for n in map(_name, things or ()) if n]
    return ", ".join(names) or None


def _render(
    infos: list[dict[str, Any]],
    as_json: bool,
    *,
    single: bool = False,
    closing_rule: bool = False,
) -> str:
    if as_json:
        return json.dumps(infos[0] if single or closing_rule else infos, indent=2, default=str)
    blocks = []
    for info in infos:
        rows = "\n".join(f"{label:<{LABEL_WIDTH}}: {_cell(v)}" for label, v in info.items())
        blocks.append(rows + ("\n" + RULE if closing_rule or not single else ""))
    return "\n".join(blocks)


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v!r}" for k, v in value.items())
    return str(value)
