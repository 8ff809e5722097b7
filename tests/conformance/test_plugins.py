"""QTasks plugins on every transport: each trigger fires where documented with QTasks'
keyword arguments, returned dicts replace what they name, a failing plugin fails only
its task (at enqueue: the caller's call), and components scope what a plugin hears."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qtasks import QueueTasks
from qtasks.config import QueueConfig
from qtasks.core.errors import ConfigurationError, HookError
from qtasks.core.status import TaskStatusEnum
from qtasks.exc import TaskPluginTriggerError
from qtasks.executors import AsyncTaskExecutor, SyncTaskExecutor
from qtasks.plugins import BasePlugin
from qtasks.plugins.base import BasePlugin as BasePluginFromBase
from qtasks.testing import drain


class Recorder(BasePlugin):
    """A sync plugin (QTasks' ``QueueTasks`` style) noting every trigger it hears."""

    def __init__(self, name: str | None = None, answers: dict[str, Any] | None = None) -> None:
        super().__init__(name)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answers = answers or {}
        self.started = 0
        self.stopped = 0
        self.lock = threading.Lock()

    def trigger(self, name: str, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.calls.append((name, kwargs))
        answer = self.answers.get(name)
        return answer(**kwargs) if callable(answer) else answer

    def start(self, *args: Any, **kwargs: Any) -> None:
        self.started += 1

    def stop(self, *args: Any, **kwargs: Any) -> None:
        self.stopped += 1

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def kwargs_of(self, trigger: str) -> dict[str, Any]:
        (found,) = [kwargs for name, kwargs in self.calls if name == trigger]
        return found


class AsyncRecorder(Recorder):
    """The same, with coroutine methods (QTasks' ``AsyncQueueTasks`` style)."""

    async def trigger(self, name: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return Recorder.trigger(self, name, **kwargs)

    async def start(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self.started += 1

    async def stop(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self.stopped += 1


@pytest.fixture
def make_app() -> Iterator[Callable[[str], QueueTasks]]:
    made: list[QueueTasks] = []

    def make(broker_url: str) -> QueueTasks:
        made.append(QueueTasks(broker_url=broker_url, config=QueueConfig(retry_backoff=0)))
        return made[-1]

    yield make
    for app in made:
        app.close()


ONE_RUN = [
    "worker_execute_before",
    "task_executor_args_replace",
    "task_executor_before_execute",
    "task_executor_run_task",
    "task_executor_after_execute",
    "task_executor_after_execute_result_replace",
    "task_executor_decode",
    "task_executor_task_close",
    "worker_execute_after",
]
WORKER_START = ["worker_start", "broker_start", "storage_start", "global_config_start"]
WORKER_STOP = ["qtasks_stop", "worker_stop", "broker_stop", "storage_stop", "global_config_stop"]


@pytest.mark.parametrize("kind", [Recorder, AsyncRecorder])
def test_every_trigger_fires_once_where_documented_with_qtasks_kwargs(
    broker_url: str, make_app: Callable[[str], QueueTasks], kind: type[Recorder]
) -> None:
    app = make_app(broker_url)
    plugin = kind()
    app.add_plugin(plugin)

    @app.task(priority=3, echo=True)
    def greet(self: Any, who: str, punctuation: str = "!") -> str:
        return f"hi {who}{punctuation}"

    record = greet.add_task("ann", punctuation="?")
    assert plugin.names() == ["qtasks_add_task_before_broker", "qtasks_add_task_after_broker"]
    before = plugin.kwargs_of("qtasks_add_task_before_broker")
    assert set(before) == {"qtasks", "broker", "task_name", "priority", "args", "kw"}
    assert before["qtasks"] is app and before["task_name"] == "greet"
    assert before["priority"] == 3  # the task's default, resolved as QTasks does
    assert tuple(before["args"]) == ("ann",) and before["kw"] == {"punctuation": "?"}
    after = plugin.kwargs_of("qtasks_add_task_after_broker")
    assert set(after) == {"qtasks", "broker", "task_name", "priority", "args", "kwargs"}

    assert drain(app) == 1
    assert plugin.names()[2:] == WORKER_START + ONE_RUN + WORKER_STOP
    assert plugin.started == plugin.stopped == 1
    worker = plugin.kwargs_of("worker_start")["worker"]
    assert plugin.kwargs_of("broker_start") == {"broker": worker.broker, "worker": worker}
    assert plugin.kwargs_of("storage_start") == {"storage": worker.broker}
    assert plugin.kwargs_of("global_config_start") == {"global_config": worker.broker}

    execute_before = plugin.kwargs_of("worker_execute_before")
    assert set(execute_before) == {"worker", "task_broker", "task_func", "model"}
    assert execute_before["task_func"].name == "greet"
    assert str(execute_before["task_broker"].uuid) == str(record.uuid)
    assert execute_before["model"].status == "process"
    replace = plugin.kwargs_of("task_executor_args_replace")
    assert set(replace) == {"task_executor", "args", "kw", "args_info"}
    assert replace["args"][1:] == ["ann"] and replace["args"][0] is not None  # echo self first
    assert replace["kw"] == {"punctuation": "?"}
    assert [(a.name, a.is_kwarg, a.value) for a in replace["args_info"]] == [
        ("self", False, None),
        ("who", False, None),
        ("punctuation", True, "!"),
    ]
    executor = replace["task_executor"]
    assert isinstance(executor, AsyncTaskExecutor)
    assert executor.task_func.name == "greet" and executor.echo is replace["args"][0]
    assert plugin.kwargs_of("task_executor_run_task")["result"] == "hi ann?"
    assert plugin.kwargs_of("task_executor_decode")["result"] == "hi ann?"
    close = plugin.kwargs_of("task_executor_task_close")
    assert set(close) == {"task_executor", "task_func", "task_broker"}
    execute_after = plugin.kwargs_of("worker_execute_after")
    assert set(execute_after) == {"task_func", "task_broker", "model"}
    assert execute_after["model"].status == "success"
    assert execute_after["model"].returning == '"hi ann?"'
    assert plugin.kwargs_of("qtasks_stop") == {"qtasks": app, "starter": None}

    final = app.get(record.uuid)
    assert final is not None and final.returning == "hi ann?"
    assert plugin.names()[-1] == "qtasks_get"
    assert plugin.kwargs_of("qtasks_get")["task"] == final


def test_returned_dicts_replace_the_call_the_arguments_the_result_and_the_record(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)

    @app.task
    def add(a: int, b: int = 0) -> int:
        return a + b

    @app.task
    def other(a: int, b: int = 0) -> str:
        return f"other {a} {b}"

    answers: dict[str, Any] = {
        # before the broker: another task, other arguments and priority
        "qtasks_add_task_before_broker": lambda **kw: {
            "task_name": "other",
            "priority": 7,
            "args": [kw["args"][0] * 10],
            "kw": {"b": 1},
        },
        "task_executor_args_replace": lambda **kw: {"kw": {"b": kw["kw"]["b"] + 1}},
        "task_executor_run_task": lambda result, **kw: {"result": result + "!"},
        "task_executor_after_execute_result_replace": lambda result, **kw: {"result": result + "?"},
        "task_executor_decode": lambda result, **kw: {"result": [result]},
        "qtasks_get": lambda task, **kw: {"task": (task.status, task.returning)},
    }
    app.add_plugin(Recorder(answers=answers))
    record = add.add_task(4)
    assert record is not None and record.task_name == "other" and record.priority == 7
    assert drain(app) == 1
    assert app.get(record.uuid) == ("success", ["other 40 2!?"])


def test_plugins_chain_args_and_share_their_cache(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    first = Recorder(
        name="first",
        answers={
            "task_executor_args_replace": lambda args, **kw: {
                "args": [args[0] + 1],
                "plugin_cache": {"seen": args[0]},
            }
        },
    )
    second = Recorder(
        answers={"task_executor_args_replace": lambda args, **kw: {"args": [args[0] * 2]}}
    )
    app.add_plugin(second)  # a global one: it runs after those naming the trigger
    app.add_plugin(first, trigger_names=["task_executor_args_replace", "task_executor_decode"])

    @app.task
    def ident(x: int) -> int:
        return x

    first_record = ident.add_task(1)
    second_record = ident.add_task(5)
    assert drain(app, concurrency=1) == 2
    for record, expected in ((first_record, 4), (second_record, 12)):
        final = app.get(record.uuid)
        assert final is not None and final.returning == expected
    decoded = [kw["result"] for name, kw in second.calls if name == "task_executor_decode"]
    assert decoded == [4, 12]  # a global plugin hears every trigger
    assert "plugin_cache" not in first.calls[0][1]
    # the cache the named plugin returned comes back to its next triggers
    assert [kw.get("plugin_cache") for _, kw in first.calls[1:]] == [
        {"seen": 1},
        {"seen": 1},
        {"seen": 5},
    ]


def test_a_failing_plugin_fails_that_task_and_the_worker_goes_on(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)

    def refuse(task_executor: Any, result: Any) -> Any:
        if task_executor.task_func.name == "bad":
            raise RuntimeError("the plugin refuses")
        return None

    app.add_plugin(Recorder(name="gate", answers={"task_executor_run_task": refuse}))

    @app.task
    def bad() -> int:
        return 1

    @app.task
    def good() -> int:
        return 2

    failed = bad.add_task()
    passed = good.add_task()
    assert drain(app, concurrency=1) == 2
    final = app.get(failed.uuid)
    assert final is not None and final.status == TaskStatusEnum.ERROR.value
    assert final.traceback is not None
    assert "plugin Recorder ('gate') failed in trigger task_executor_run_task" in final.traceback
    assert "RuntimeError: the plugin refuses" in final.traceback
    ok = app.get(passed.uuid)
    assert ok is not None and ok.returning == 2


def test_a_failing_plugin_at_enqueue_raises_to_the_caller_and_sends_nothing(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)

    def refuse(**kwargs: Any) -> None:
        raise ValueError("no tasks today")

    app.add_plugin(Recorder(answers={"qtasks_add_task_before_broker": refuse}))

    @app.task
    def noop() -> None:
        return None

    with pytest.raises(HookError, match="no tasks today") as caught:
        noop.add_task()
    assert isinstance(caught.value.__cause__, ValueError)
    assert drain(app) == 0


def test_a_trigger_returning_something_else_than_a_dict_fails_clearly(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    app.add_plugin(Recorder(answers={"task_executor_run_task": 5}))

    @app.task
    def one() -> int:
        return 1

    record = one.add_task()
    drain(app)
    final = app.get(record.uuid)
    assert final is not None and final.status == "error" and final.traceback is not None
    assert "returned int from trigger task_executor_run_task" in final.traceback


def test_plugin_error_raised_by_a_task_is_handed_to_the_plugins(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)

    def handle(e: TaskPluginTriggerError, **kwargs: Any) -> Any:
        assert set(kwargs) == {"task_executor", "task_func", "task_broker"}
        if e.kwargs.get("fallback") is None:
            return None  # not handled: the task fails with the error
        if e.kwargs.get("bare"):
            return e.kwargs["fallback"]  # QTasks' errors.md: a plain value is the result
        return {"result": e.kwargs["fallback"]}

    plugin = Recorder(answers={"task_executor_run_task_trigger_error": handle})
    app.add_plugin(plugin, ["task_executor_run_task_trigger_error"], component="worker")

    @app.task(echo=True)
    def risky(self: Any, fallback: Any = None, bare: bool = False) -> str:
        self.ctx.plugin_error(fallback=fallback, bare=bare)
        return "never"

    @app.task
    def direct() -> str:
        raise TaskPluginTriggerError("direct", fallback="from a raise")

    handled = risky.add_task(fallback={"ok": 1})
    bare = risky.add_task(fallback=123, bare=True)
    unhandled = risky.add_task()
    raised = direct.add_task()
    assert drain(app) == 4
    got = {r.uuid: app.get(r.uuid) for r in (handled, bare, unhandled, raised)}
    assert got[handled.uuid].returning == {"ok": 1}  # type: ignore[union-attr]
    assert got[bare.uuid].returning == 123  # type: ignore[union-attr]
    assert got[raised.uuid].returning == "from a raise"  # type: ignore[union-attr]
    failed = got[unhandled.uuid]
    assert failed is not None and failed.status == "error" and failed.traceback is not None
    assert "TaskPluginTriggerError" in failed.traceback
    assert plugin.names().count("task_executor_run_task_trigger_error") == 4


def test_unknown_component_names_the_valid_ones(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    with pytest.raises(ConfigurationError, match="'worker', 'broker', 'storage', 'global_config'"):
        app.add_plugin(Recorder(), component="starter")
    assert BasePlugin is BasePluginFromBase


def test_components_scope_what_their_plugins_hear(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    worker_plugin, broker_plugin = Recorder(), Recorder()
    app.add_plugin(worker_plugin, component="worker")
    app.add_plugin(broker_plugin, component="broker")
    named_elsewhere = Recorder()
    app.add_plugin(named_elsewhere, ["qtasks_get", "worker_start"], component="worker")

    @app.task
    def one() -> int:
        return 1

    record = one.add_task()
    drain(app)
    app.get(record.uuid)
    assert worker_plugin.names() == ["worker_start", *ONE_RUN, "worker_stop"]
    assert broker_plugin.names() == ["broker_start", "broker_stop"]
    assert named_elsewhere.names() == ["worker_start"]  # qtasks_get is the app's trigger
    assert [p.started for p in (worker_plugin, broker_plugin, named_elsewhere)] == [1, 1, 1]


def test_start_and_stop_run_once_per_worker(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    plugin = AsyncRecorder()
    app.add_plugin(plugin, ["-"])  # QTasks' gRPC example: no trigger, only start/stop
    app.add_plugin(plugin, ["worker_start"], component="worker")
    drain(app)
    drain(app)
    assert (plugin.started, plugin.stopped) == (2, 2)
    assert plugin.names() == ["worker_start", "worker_start"]


@pytest.mark.parametrize("executor", [AsyncTaskExecutor, SyncTaskExecutor])
def test_a_task_with_its_own_executor_class_fires_its_triggers_once(
    broker_url: str, make_app: Callable[[str], QueueTasks], executor: type[Any]
) -> None:
    app = make_app(broker_url)
    plugin = Recorder(answers={"task_executor_run_task": lambda result, **kw: {"result": -result}})
    app.add_plugin(plugin, component="worker")

    @app.task(executor=executor)
    def seven() -> int:
        return 7

    record = seven.add_task()
    drain(app)
    assert plugin.names() == ["worker_start", *ONE_RUN, "worker_stop"]
    final = app.get(record.uuid)
    assert final is not None and final.returning == -7


def test_a_retried_run_fires_worker_task_error_retry(
    broker_url: str, make_app: Callable[[str], QueueTasks]
) -> None:
    app = make_app(broker_url)
    plugin = Recorder()
    app.add_plugin(plugin, ["worker_task_error_retry", "worker_execute_after"])

    @app.task(retry=1)
    def flaky() -> None:
        raise ZeroDivisionError("boom")

    flaky.add_task()
    drain(app)
    assert plugin.names() == [
        "worker_task_error_retry",
        "worker_execute_after",
        "worker_execute_after",
    ]
    retry = plugin.kwargs_of("worker_task_error_retry")
    assert set(retry) == {"broker", "task_func", "task_broker", "trace"}
    assert "ZeroDivisionError: boom" in retry["trace"]
    statuses = [kw["model"].status for name, kw in plugin.calls if name == "worker_execute_after"]
    assert statuses == ["retry", "error"]


# QTasks' own examples, run as they are (only the broker URL is added) --------------------

MIRROR = Path("/work/.mirror/txello+qtasks/repo")


def qtasks_file(path: str) -> str:
    """A file of QTasks' repository (its examples and docs are not ours to copy)."""
    if not MIRROR.exists():
        pytest.skip("QTasks' repository is not mirrored here")
    shown = subprocess.run(
        ["git", "-C", str(MIRROR), "show", f"HEAD:{path}"],
        check=True,
        capture_output=True,
        text=True,
    )
    return shown.stdout


def run_example(tmp_path: Path, app_source: str, drive: str) -> subprocess.CompletedProcess[str]:
    """Import ``app_source`` as a module (its ``__main__`` block stays idle) and run
    ``drive`` against it, in a fresh interpreter."""
    (tmp_path / "example_app.py").write_text(app_source)
    (tmp_path / "drive.py").write_text("from example_app import *\n" + drive)
    return subprocess.run(
        [sys.executable, "drive.py"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )


DRIVE = """
import asyncio
from qtasks.testing import drain
record = {add}
drain(app)
final = {get}
print("STATUS", final.status, final.returning)
"""


def test_qtasks_plugin_example_app_runs_unchanged(broker_url: str, tmp_path: Path) -> None:
    source = qtasks_file("examples/plugins/based_async_plugins_app.py")
    source = source.replace("QueueTasks()", f"QueueTasks(broker_url={broker_url!r})", 1)
    drive = DRIVE.format(
        add="asyncio.run(test_task.add_task())", get="asyncio.run(app.get(record.uuid))"
    )
    done = run_example(tmp_path, source, drive)
    assert done.returncode == 0, done.stderr
    # its plugin prints what the trigger got, and returns None: the task fails with the error
    assert "'task_executor':" in done.stdout and "'e': TaskPluginTriggerError(" in done.stdout
    assert "STATUS error None" in done.stdout


def test_qtasks_error_handling_doc_plugin_replaces_the_result(
    broker_url: str, tmp_path: Path
) -> None:
    doc = qtasks_file("docs/en/api/plugins/errors.md")
    blocks = doc.split("```python\n")[1:]
    plugin = next(b.split("```")[0] for b in blocks if "class TestPlugin" in b)
    source = textwrap.dedent(
        f"""
        from qtasks import QueueTasks
        from qtasks.plugins.base import BasePlugin
        app = QueueTasks(broker_url={broker_url!r})
        """
    )
    source += plugin + textwrap.dedent(
        """
        app.add_plugin(TestPlugin(), ["task_executor_run_task_trigger_error"], component="worker")

        @app.task(echo=True)
        def test_task(self):
            self.ctx.plugin_error(message="Non-standard situation")
        """
    )
    drive = DRIVE.format(add="test_task.add_task()", get="app.get(record.uuid)")
    done = run_example(tmp_path, source, drive)
    assert done.returncode == 0, done.stderr
    assert "STATUS success 123" in done.stdout


def test_base_plugin_is_abstract_as_in_qtasks() -> None:
    class OnlyHandlers(BasePlugin):  # QTasks' components.md sketch: no trigger/start/stop
        def __init__(self) -> None:
            super().__init__()
            self.handlers: dict[str, Any] = {}

    with pytest.raises(TypeError, match="abstract"):
        OnlyHandlers()  # type: ignore[abstract]
