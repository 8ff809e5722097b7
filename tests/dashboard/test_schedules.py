"""The dashboard's schedules page on every transport: each schedule's trigger, next fire,
last fire and the last run (linked to its task), the empty state, escaping, access."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator

import pytest
from markupsafe import escape

from qtasks import QueueTasks
from qtasks.monitor.text import when
from qtasks.testing import drain

from .conftest import HOUR, Served, fire_once, serve

#: A schedule (and task) name a page must show as text, never as markup or template.
HOSTILE = "<script>alert(1)</script>{{ 7*7 }}&\"'"


def page(dashboard: Served, path: str) -> str:
    """The body of ``path`` (which must answer 200), its links relative to the site."""
    reply = dashboard.request(path)
    assert reply.status == 200, (path, reply.body)
    return reply.body.replace(dashboard.url, "")


def row(body: str, name: str) -> str:
    """The table row of schedule ``name`` in a page."""
    start = body.index(f'<tr data-schedule="{escape(name)}"')
    return body[start : body.index("</tr>", start)]


def test_each_schedule_with_its_last_run(app: QueueTasks, dashboard: Served) -> None:
    hourly = app.schedule("add", name="hourly", every=HOUR, args=[1, 2])
    nightly = app.schedule("add", name="nightly", cron="0 3 * * *", tz="Europe/Paris")
    tick = fire_once(app, hourly)
    assert drain(app) == 1
    hold = asyncio.run(app._client.unique_hold("default", hourly.key))
    assert hold is not None
    run_id = hold[0]
    record = app.get(run_id)
    assert record is not None and record.status == "success"

    for path in ("/schedules", "/fragments/schedules"):
        body = page(dashboard, path)
        fired, waiting = row(body, "hourly"), row(body, "nightly")
        assert "every 3600 s" in fired and 'href="/tasks?task=add"' in fired
        assert f'<td data-field="last">{when(tick)}</td>' in fired
        assert f'<td data-field="next">{when(tick + HOUR)}</td>' in fired
        assert f'<a href="/tasks/{run_id}">success</a>' in fired
        assert "cron &#39;0 3 * * *&#39; (Europe/Paris)" in waiting
        assert '<td data-field="last">-</td>' in waiting and "not run yet" in waiting
        assert when(nightly.trigger.next_after(time.time())) in waiting
        assert "/tasks/" not in waiting
    full = page(dashboard, "/schedules")
    assert "<h1>Schedules</h1>" in full and 'data-live="/fragments/schedules"' in full
    assert '<a href="/schedules">Schedules</a>' in page(dashboard, "/")  # the nav
    assert dashboard.request(f"/tasks/{run_id}").status == 200  # the link leads somewhere

    listed = json.loads(dashboard.request("/api/schedules").body)
    assert [s["name"] for s in listed] == ["hourly", "nightly"]
    assert listed[0] == {
        "name": "hourly",
        "task": "add",
        "queue": "default",
        "trigger": "every 3600 s",
        "next_fire": tick + HOUR,
        "last_tick": tick,
        "last_task": run_id,
        "last_status": "success",
        "catch_up": "latest",
    }
    assert listed[1]["last_task"] is None and listed[1]["last_status"] is None


def test_a_fired_run_still_waiting_shows_as_new(app: QueueTasks, dashboard: Served) -> None:
    hourly = app.schedule("add", name="hourly", every=HOUR, args=[1, 2])
    fire_once(app, hourly)
    fired = row(page(dashboard, "/fragments/schedules"), "hourly")
    assert 'class="status-new"' in fired and ">new</a>" in fired


def test_no_schedules(dashboard: Served) -> None:
    for path in ("/schedules", "/fragments/schedules"):
        body = page(dashboard, path)
        assert "no schedules: declare one with" in body
        assert "<code>@app.task(schedule=...)</code>" in body
        assert "data-schedule" not in body
    assert json.loads(dashboard.request("/api/schedules").body) == []


def test_names_are_escaped(app: QueueTasks, dashboard: Served) -> None:
    @app.task(HOSTILE)
    def hostile() -> None:
        return None

    app.schedule(hostile, name=HOSTILE, every=HOUR)
    for path in ("/schedules", "/fragments/schedules"):
        body = page(dashboard, path)
        assert "<script>alert(1)" not in body  # text, not markup, nor a template:
        shown = escape(HOSTILE)  # "{{ 7*7 }}" as typed; quotes too (it is an attribute too)
        assert f"<td>{shown}</td>" in body and f">{shown}</a></td>" in body  # and its task
        assert f'<tr data-schedule="{shown}"' in body
    assert json.loads(dashboard.request("/api/schedules").body)[0]["name"] == HOSTILE


@pytest.fixture
def guarded(app: QueueTasks) -> Iterator[Served]:
    app.schedule("add", name="hourly", every=HOUR)
    yield from serve(app, auth="admin:s3cret-pw", token="t0ken-0123456789abcdef")


def test_access_control_applies(guarded: Served) -> None:
    basic = {"Authorization": "Basic " + base64.b64encode(b"admin:s3cret-pw").decode()}
    bearer = {"Authorization": "Bearer t0ken-0123456789abcdef"}
    for path in ("/schedules", "/fragments/schedules", "/api/schedules"):
        assert guarded.request(path).status == 401, path
        assert guarded.request(path + "?token=wrong-token-0123456789").status == 401, path
        for headers in (basic, bearer):
            reply = guarded.request(path, headers=headers)
            assert reply.status == 200 and "hourly" in reply.body, path
    assert guarded.request("/schedules", data={}, headers=basic).status == 405  # read-only
