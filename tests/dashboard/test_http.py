"""The dashboard over HTTP on every transport: pages, JSON, fragments, actions, escaping,
CSRF, access control and ``/metrics`` (parsed by prometheus_client's own parser)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from qtasks import QueueTasks
from qtasks.dashboard import serve as serve_dashboard
from qtasks.testing import drain

from .conftest import Served, serve

HOSTILE = "<script>alert(1)</script>&\"'"


def test_every_page_answers_and_escapes_user_data(app: QueueTasks, dashboard: Served) -> None:
    ok = app.add_task("add", 2, 3)
    bad = app.add_task("fail", HOSTILE)
    drain(app)
    waiting = app.add_task("add", 1, 1)
    assert ok and bad and waiting
    pages = {
        "/": "Overview",
        "/tasks": "Tasks",
        f"/tasks/{bad.uuid}": "Traceback",
        f"/tasks/{ok.uuid}": "result",
        "/dead": "Dead letters",
        "/fragments/overview": "Queues",
        "/fragments/tasks?status=error": str(bad.uuid),
        f"/fragments/tasks/{waiting.uuid}": "Cancel task",
    }
    for path, text in pages.items():
        reply = dashboard.request(path)
        assert reply.status == 200, (path, reply.body)
        assert text in reply.body, path
        assert "<script>alert(1)" not in reply.body, path  # escaped wherever it shows
    detail = dashboard.request(f"/tasks/{bad.uuid}").body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
    headers = dashboard.request("/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"


def test_json_views(app: QueueTasks, dashboard: Served) -> None:
    ok = app.add_task("add", 2, 3)
    app.add_task("fail", "boom")
    drain(app)
    assert ok
    overview = json.loads(dashboard.request("/api/overview").body)
    assert overview["counts"]["success"] == 1 and overview["counts"]["error"] == 1
    [queue] = overview["queues"]
    assert queue["queue"] == "default" and queue["totals"]["succeeded"] == 1
    assert [w["state"] for w in overview["workers"]] == ["stopped"]
    tasks = json.loads(dashboard.request("/api/tasks?status=success").body)
    assert [t["uuid"] for t in tasks] == [str(ok.uuid)]
    detail = json.loads(dashboard.request(f"/api/tasks/{ok.uuid}").body)
    assert detail["task"]["returning"] == 5
    series = json.loads(dashboard.request("/api/throughput?minutes=10").body)
    assert len(series["time"]) == 10 and sum(series["succeeded"]) == 1
    assert sum(series["failed"]) == 1 and sum(series["enqueued"]) == 2
    for bad in ("/api/tasks?status=done", "/api/tasks?limit=0", "/api/tasks/nope"):
        reply = dashboard.request(bad)
        assert reply.status == 400 and "error" in json.loads(reply.body), bad
    missing = dashboard.request("/api/tasks/0190a8e8-0000-7000-8000-000000000000")
    assert missing.status == 404
    assert dashboard.request("/tasks/nope").status == 400


def test_actions_need_the_csrf_token(app: QueueTasks, dashboard: Served) -> None:
    bad = app.add_task("fail", "boom")
    drain(app)
    assert bad
    no_token = dashboard.request("/dead/requeue", data={"id": str(bad.uuid)})
    assert no_token.status == 403 and "CSRF" in no_token.body
    dashboard.csrf()
    wrong = dashboard.request("/dead/requeue", data={"id": str(bad.uuid), "csrf_token": "x"})
    assert wrong.status == 403
    token = dashboard.csrf()
    foreign = dashboard.request(
        "/dead/requeue",
        data={"id": str(bad.uuid), "csrf_token": token},
        headers={"Origin": "http://evil.example"},
    )
    assert foreign.status == 403
    assert len(app.dead_letters()) == 1  # nothing was done
    done = dashboard.request("/dead/requeue", data={"id": str(bad.uuid), "csrf_token": token})
    assert done.status == 200 and "requeued 1 dead letter(s)" in done.body
    assert app.get(bad.uuid).status == "new"
    assert dashboard.request("/dead/requeue").status == 405  # a GET never acts


def test_requeue_purge_and_cancel(app: QueueTasks, dashboard: Served) -> None:
    failed = [app.add_task("fail", f"boom {i}") for i in range(3)]
    drain(app)
    token = dashboard.csrf()
    post = lambda path, **data: dashboard.request(path, data={**data, "csrf_token": token})  # noqa: E731
    assert post("/dead/purge").status == 400  # nothing chosen
    assert post("/dead/purge", all="1", task="fail").status == 400
    assert "purged 1" in post("/dead/purge", id=str(failed[0].uuid)).body
    assert "requeued 2" in post("/dead/requeue", all="1").body
    assert app.dead_letters() == []
    waiting = app.add_task("add", 1, 2)
    assert waiting
    reply = post(f"/tasks/{waiting.uuid}/cancel", reason="not needed <b>")
    assert reply.status == 200 and "cancel: cancelled" in reply.body
    record = app.get(waiting.uuid)
    assert record.status == "cancel" and record.cancel_reason == "not needed <b>"
    assert "not needed &lt;b&gt;" in reply.body


def test_only_get_and_post(dashboard: Served) -> None:
    import urllib.request

    request = urllib.request.Request(dashboard.url + "/", method="DELETE")
    try:
        urllib.request.urlopen(request, timeout=10)
        status = 200
    except urllib.error.HTTPError as error:
        status = error.code
    assert status == 405


@pytest.fixture
def guarded(app: QueueTasks) -> Iterator[Served]:
    yield from serve(app, auth="admin:s3cret-pw", token="t0ken-0123456789abcdef")


def test_auth_and_token(guarded: Served) -> None:
    refused = guarded.request("/")
    assert refused.status == 401 and "Basic" in refused.headers["www-authenticate"]
    assert guarded.request("/api/overview").status == 401
    basic = base64.b64encode(b"admin:s3cret-pw").decode()
    assert guarded.request("/", headers={"Authorization": f"Basic {basic}"}).status == 200
    wrong = base64.b64encode(b"admin:nope").decode()
    assert guarded.request("/", headers={"Authorization": f"Basic {wrong}"}).status == 401
    bearer = {"Authorization": "Bearer t0ken-0123456789abcdef"}
    assert guarded.request("/api/overview", headers=bearer).status == 200
    assert guarded.request("/?token=wrong-token-0123456789").status == 401
    first = guarded.request("/?token=t0ken-0123456789abcdef", follow=False)
    assert first.status == 303 and "token=" not in first.headers["location"]
    assert guarded.request("/").status == 200  # the cookie it set lets the browser in


def test_a_bind_beyond_loopback_needs_auth(app: QueueTasks) -> None:
    with pytest.raises(ValueError, match="open to anyone"):
        serve_dashboard(app, host="0.0.0.0", port=1)
    with pytest.raises(ValueError, match="user:password"):
        serve_dashboard(app, host="0.0.0.0", port=1, auth="nocolon")
    with pytest.raises(ValueError, match="16 characters"):
        serve_dashboard(app, host="0.0.0.0", port=1, token="short")


def test_metrics_are_prometheus_text(app: QueueTasks, dashboard: Served) -> None:
    app.add_tasks([("add", (i, i)) for i in range(3)])
    app.add_task("fail", "boom")
    drain(app)
    app.add_task("add", 9, 9)
    reply = dashboard.request("/metrics")
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(reply.body)
        for s in family.samples
    }
    labels = (("app", "shop"), ("queue", "default"), ("state", "ready"))
    assert samples[("qtasks_queue_depth", labels)] == 1
    assert samples[("qtasks_tasks", (("app", "shop"), ("status", "success")))] == 3
    assert samples[("qtasks_tasks", (("app", "shop"), ("status", "error")))] == 1
    assert samples[("qtasks_workers", (("app", "shop"), ("state", "stopped")))] == 1
    assert re.search(r"^qtasks_queue_minute_tasks\{", reply.body, re.M)
