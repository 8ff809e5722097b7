"""``qtasks.stats``: QTasks' inspection of an app, for both app flavours."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from qtasks import QueueTasks
from qtasks.asyncio import QueueTasks as AsyncQueueTasks
from qtasks.plugins.base import BasePlugin
from qtasks.stats import AsyncStats, SyncStats


def make_app(name: str = "shop") -> QueueTasks:
    app = QueueTasks(name=name, broker_url=f"memory://stats-{name}")

    @app.task(retry=3, tags=["money"], description="Adds two numbers.", queue="math")
    def add(a: int, b: int = 2, *, scale: float) -> float:
        return (a + b) * scale

    @app.task(name="feed:items", echo=True, max_time=5)
    async def feed(self: Any, n: int):  # type: ignore[no-untyped-def]
        yield n

    return app


def rows(text: str) -> dict[str, str]:
    """The text form's ``label: value`` rows (the rule lines dropped)."""
    found = {}
    for line in text.splitlines():
        label, sep, value = line.partition(": ")
        if sep:
            found[label.strip()] = value
    return found


def test_app_text_and_json_agree() -> None:
    app = make_app()
    inspected = SyncStats(app).inspect()
    text = rows(inspected.app())
    data = json.loads(inspected.app(json=True))
    assert text["Name"] == data["Name"] == "shop"
    assert text["Method"] == data["Method"] == "sync"
    # (shared tasks other tests declared join every app made after them)
    assert data["Tasks Count"] == len(app.tasks) >= 2 and text["Tasks Count"] == str(len(app.tasks))
    assert data["Broker"] == "memory://stats-shop"
    assert data["Config"]["max_tasks_process"] == app.config.max_tasks_process
    assert "Retries" in data["Hooks"] and "TimeLimit" in data["Hooks"]
    assert inspected.app().rstrip().endswith("-" * 50)


def test_task_rows_describe_the_declaration() -> None:
    inspected = SyncStats(make_app()).inspect()
    add = rows(inspected.task("add"))
    assert add["Task name"] == "add"
    assert add["Queue"] == "math"
    assert add["Description"] == "Adds two numbers."
    assert add["Tags"] == "money"
    assert add["Awaiting"] == "False"
    assert add["Args"] == "a: int"
    assert add["Kwargs"] == "b: int=2, scale: float=required"
    assert add["Retry Count"] == "3"
    feed = json.loads(inspected.task("feed:items", json=True))
    assert feed["Awaiting"] is True and feed["Generating"] is True
    assert feed["Task Self"] is True and feed["Max Time"] == 5
    assert "Retry Count" not in feed  # options left at their default are not listed


def test_tasks_lists_all_or_the_named_ones_in_order() -> None:
    app = make_app()
    inspected = SyncStats(app).inspect()
    every = json.loads(inspected.tasks(json=True))
    assert [t["Task name"] for t in every] == list(app.tasks)
    assert {"add", "feed:items"} <= set(app.tasks)
    named = json.loads(inspected.tasks("feed:items", "add", json=True))
    assert [t["Task name"] for t in named] == ["feed:items", "add"]
    assert inspected.tasks().count("-" * 50) == len(app.tasks)


def test_an_unknown_task_name_is_a_clear_error() -> None:
    inspected = SyncStats(make_app()).inspect()
    with pytest.raises(KeyError) as raised:
        inspected.task("nope")
    message = str(raised.value)  # (shared tasks other tests declared join every app)
    assert message.startswith("no task 'nope' in app 'shop'; tasks: add, "), message
    assert "feed:items" in message
    with pytest.raises(KeyError, match="nope"):
        inspected.tasks("add", "nope")


def test_an_app_without_tasks() -> None:
    app = QueueTasks(name="empty", broker_url="memory://e")
    app.tasks.clear()  # (shared tasks other tests declared join every new app)
    inspected = SyncStats(app).inspect()
    assert inspected.tasks() == "No registered tasks."
    assert json.loads(inspected.tasks(json=True)) == []


class Recorder(BasePlugin):
    def __init__(self) -> None:
        super().__init__(name="recorder")
        self.seen: list[tuple[str, Any]] = []

    async def trigger(self, name: str, **kwargs: Any) -> None:
        self.seen.append((name, kwargs.get("stats")))

    async def start(self, *args: Any, **kwargs: Any) -> None:
        pass

    async def stop(self, *args: Any, **kwargs: Any) -> None:
        pass


def test_async_stats_inspect_is_awaited_and_fires_stats_inspect() -> None:
    app = AsyncQueueTasks(name="aio", broker_url="memory://aio")

    @app.task
    async def ping() -> str:
        return "pong"

    plugin = Recorder()
    stats = AsyncStats(app, plugins={"stats_inspect": [plugin]})
    inspected = asyncio.run(stats.inspect())
    assert json.loads(inspected.app(json=True))["Method"] == "async"
    assert plugin.seen == [("stats_inspect", stats)]


def test_sync_stats_fires_its_global_plugins() -> None:
    plugin = Recorder()
    stats = SyncStats(make_app("plug"), plugins={"Globals": [plugin]})
    stats.inspect()
    assert [name for name, _ in plugin.seen] == ["stats_inspect"]
