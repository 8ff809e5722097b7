"""qtasks' pages in Django's admin (``QTasksAdminConfig`` in the settings): staff only,
read through ``qtasks.monitor`` from tasks real ``manage.py qtasks_worker`` processes ran,
actions by POST with Django's CSRF check, every value escaped, results found by their
Django result id after retries."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from qtasks.contrib.django import compat
from qtasks.contrib.django.execution import BACKEND_HEADER
from qtasks.core.envelope import Envelope
from qtasks.core.ids import new_task_id
from qtasks.monitor import Monitor
from tests.django_project.djapps.shop import tasks
from tests.django_project.test_backend import Worker, final, start_worker  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)  # enqueue at once, not on commit

ADMIN = "/admin/qtasks"


def app_of(alias: str) -> Any:
    return compat.task_backends()[alias].app


@pytest.fixture(autouse=True)
def empty_brokers() -> None:
    """Each test starts from empty namespaces (tasks, dead letters, workers, counts)."""
    for alias in ("default", "retrying"):
        app_of(alias).flush_all()


@pytest.fixture
def staff(django_user_model: Any) -> Client:
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def always_failing_flaky(tmp_path: Path) -> Any:
    """``flaky`` on the ``retrying`` backend (retry=2) failing all three attempts: its
    dead letter is the third attempt, not the id ``.enqueue()`` returned."""
    counter = tmp_path / "count"
    counter.write_text("-10")  # the task succeeds from count 3 on: never, here
    return tasks.flaky.enqueue(str(counter))


@pytest.fixture
def dead_after_retries(tmp_path: Path, start_worker: Callable[..., Worker]) -> Iterator[Any]:  # noqa: F811
    result = always_failing_flaky(tmp_path)
    worker = start_worker("--backend", "retrying")
    try:
        result = final(result)
    finally:
        assert worker.stop() == 0, worker.log()
    assert result.status == compat.TaskResultStatus.FAILED and len(result.errors) == 3
    yield result


def last_attempt(app: Any, django_id: str) -> str:
    detail = Monitor(app).task(django_id)
    assert detail is not None
    return str(detail.chain[-1].uuid)


def csrf_token(client: Client, page: str) -> str:
    response = client.get(page)
    assert response.status_code == 200
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


# access -------------------------------------------------------------------------------


PAGES = [
    f"{ADMIN}/",
    f"{ADMIN}/default/",
    f"{ADMIN}/default/results/",
    f"{ADMIN}/default/dead/",
]


def test_anonymous_and_non_staff_are_sent_to_the_login_page(django_user_model: Any) -> None:
    result = tasks.add.using(run_after=datetime.now(UTC) + timedelta(hours=1)).enqueue(1, 2)
    detail = f"{ADMIN}/default/results/{result.id}/"
    posts = [f"{detail}cancel/", f"{ADMIN}/default/dead/act/"]
    anonymous = Client()
    user = django_user_model.objects.create_user("someone", password="pw", is_staff=False)
    member = Client()
    member.force_login(user)
    for client in (anonymous, member):
        for page in [*PAGES, detail]:
            response = client.get(page)
            assert response.status_code == 302, page
            assert response["Location"].startswith("/admin/login/?next="), page
        for action in posts:
            response = client.post(action, {"action": "purge", "scope": "matching", "confirm": "1"})
            assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert tasks.add.get_result(result.id).status == compat.TaskResultStatus.READY


def test_staff_sees_every_page_and_the_index_entry(staff: Client) -> None:
    result = tasks.add.enqueue(1, 2)
    for page in [*PAGES[1:], f"{ADMIN}/default/results/{result.id}/"]:
        response = staff.get(page)
        assert response.status_code == 200, page
        assert "admin/base_site.html" in [t.name for t in response.templates]
    index = staff.get("/admin/")
    entry = [app for app in index.context["app_list"] if app["app_label"] == "qtasks"]
    assert len(entry) == 1 and entry[0]["app_url"] == f"{ADMIN}/"
    # three QTasksBackend aliases in the settings: one row each, to its queues page
    assert [m["admin_url"] for m in entry[0]["models"]] == [
        f"{ADMIN}/default/",
        f"{ADMIN}/indb/",
        f"{ADMIN}/retrying/",
    ]
    assert f'href="{ADMIN}/default/"' in index.content.decode()
    choose = staff.get(f"{ADMIN}/")  # several backends: a page to pick one
    assert [b["alias"] for b in choose.context["backends"]] == ["default", "indb", "retrying"]
    assert staff.get(f"{ADMIN}/nosuch/").status_code == 404
    assert staff.get(f"{ADMIN}/default/results/not-a-uuid/").status_code == 404
    assert staff.get(f"{ADMIN}/default/results/{new_task_id()}/").status_code == 404


def test_actions_refuse_get(staff: Client) -> None:
    result = tasks.add.enqueue(1, 2)
    assert staff.get(f"{ADMIN}/default/results/{result.id}/cancel/").status_code == 405
    assert staff.get(f"{ADMIN}/default/dead/act/").status_code == 405
    assert tasks.add.get_result(result.id).status == compat.TaskResultStatus.READY


# the pages ----------------------------------------------------------------------------


def test_queues_page_shows_depth_throughput_failure_rate_and_workers(
    staff: Client,
    tmp_path: Path,
    start_worker: Callable[..., Worker],  # noqa: F811
) -> None:
    done = [tasks.add.enqueue(n, n) for n in range(3)] + [tasks.fails.enqueue()]
    later = tasks.add.using(run_after=datetime.now(UTC) + timedelta(hours=1)).enqueue(0, 0)
    worker = start_worker()
    try:
        for result in done:
            final(result)

        def default_queue() -> dict[str, Any] | None:
            page = staff.get(f"{ADMIN}/default/")
            rows = {q["name"]: q for q in page.context["queues"]}
            totals = dict(rows["default"]["totals"]) if "default" in rows else {}
            alive = dict(page.context["states"])["alive"]
            # outcomes are counted with the worker's heartbeat, every few seconds
            return rows["default"] if totals.get("succeeded") == 3 and alive == 1 else None

        queue = wait_until(default_queue, "the worker's counts")
        assert dict(queue["totals"]) == {
            "enqueued": 5,
            "succeeded": 3,
            "failed": 1,
            "retried": 0,
            "cancelled": 0,
        }
        assert queue["rate"] == "25.0%"
        depth = queue["depth"]
        assert (depth.ready, depth.delayed, depth.running) == (0, 1, 0)
        assert queue["chart"]["peak"] >= 1 and len(queue["chart"]["bars"]) == 60
        page = staff.get(f"{ADMIN}/default/").content.decode()
        assert "<svg" in page and 'fill="#4a9c5d"' in page and 'fill="#ba2121"' in page
        assert "1 alive" in page
        assert f"{ADMIN}/default/results/{done[-1].id}/" in page  # in the recent failures
    finally:
        assert worker.stop() == 0, worker.log()
    page = staff.get(f"{ADMIN}/default/")
    assert dict(page.context["states"]) == {"alive": 0, "stopped": 1, "dead": 0}
    assert tasks.add.get_result(later.id).status == compat.TaskResultStatus.READY


def test_results_filters_and_paging(staff: Client) -> None:
    adds = [tasks.add.enqueue(n, 1) for n in range(5)]
    mail = tasks.send_mail.enqueue("a@b.c")  # queue "emails"
    app_of("default").cancel(adds[0].id, "not needed")
    url = f"{ADMIN}/default/results/"

    def ids(query: str) -> list[str]:
        response = staff.get(url + query)
        assert response.status_code == 200, query
        return [row["django_id"] for row in response.context["rows"]]

    everything = [r.id for r in reversed([*adds, mail])]  # newest first
    assert ids("") == everything
    assert ids("?queue=emails") == [mail.id]
    assert ids("?status=cancel") == [adds[0].id]
    assert ids("?status=new&queue=default") == [r.id for r in reversed(adds[1:])]
    assert ids(f"?task={tasks.send_mail.module_path}") == [mail.id]
    assert staff.get(url + "?status=bogus").status_code == 400
    # pages of two, newest first, with a link to the next one
    first = staff.get(url + "?limit=2")
    seen = [row["django_id"] for row in first.context["rows"]]
    following = first.context["next_page"]
    while following:
        assert "limit=2" in following
        page = staff.get(url + following)
        seen += [row["django_id"] for row in page.context["rows"]]
        assert page.context["first_page"] is not None
        following = page.context["next_page"]
    assert seen == everything
    # a filter link keeps the other filters
    filtered = staff.get(url + "?queue=default")
    status_links = dict((label, link) for label, link, _ in filtered.context["filters"][0][1])
    assert "queue=default" in status_links["error"] and "status=error" in status_links["error"]
    # "go to" an id
    jump = staff.get(url + f"?id={mail.id}")
    assert jump.status_code == 302 and jump["Location"] == f"{url}{mail.id}/"


def test_hostile_values_are_escaped(staff: Client, start_worker: Callable[..., Worker]) -> None:  # noqa: F811
    script = "<script>alert('qtasks')</script>"
    image = '<img src=x onerror="alert(1)">'
    result = tasks.add.enqueue(script, image)  # str + str: the result repeats both
    app = app_of("default")
    now = time.time()
    odd = Envelope(  # a message whose task name and queue are markup, sent without Django
        id=new_task_id(),
        task_name="<b>evil</b>",
        queue="<i>q</i>",
        args=(script,),
        created_at=now,
        eta=now,
        headers={BACKEND_HEADER: "default"},
    )
    app._sync(app._client.enqueue([odd]))
    worker = start_worker("-Q", "default")
    try:
        assert final(result).return_value == script + image
    finally:
        worker.stop()
    pages = [
        f"{ADMIN}/default/",
        f"{ADMIN}/default/results/",
        f"{ADMIN}/default/results/?queue=%3Ci%3Eq%3C%2Fi%3E",
        f"{ADMIN}/default/results/{result.id}/",
        f"{ADMIN}/default/results/{odd.id}/",
    ]
    for page in pages:
        html = staff.get(page).content.decode()
        for raw in (script, image, "<b>evil</b>", "<i>q</i>"):
            assert raw not in html, (page, raw)
    detail = staff.get(f"{ADMIN}/default/results/{result.id}/").content.decode()
    assert "&lt;script&gt;alert(&#x27;qtasks&#x27;)&lt;/script&gt;" in detail
    listing = staff.get(f"{ADMIN}/default/results/").content.decode()
    assert "&lt;b&gt;evil&lt;/b&gt;" in listing and "&lt;i&gt;q&lt;/i&gt;" in listing


# results after retries ----------------------------------------------------------------


def test_a_result_is_found_by_its_django_id_after_retries(
    staff: Client, dead_after_retries: Any
) -> None:
    django_id = dead_after_retries.id
    app = app_of("retrying")
    last = last_attempt(app, django_id)
    assert last != django_id  # the dead letter is the third attempt
    by_django_id = staff.get(f"{ADMIN}/retrying/results/{django_id}/")
    by_last = staff.get(f"{ADMIN}/retrying/results/{last}/")
    for response in (by_django_id, by_last):
        assert response.status_code == 200
        fields = dict(response.context["fields"])
        assert fields["Django result id"] == django_id
        assert fields["Django status"] == "FAILED"
        assert [step["task"].status for step in response.context["chain"]] == [
            "retry",
            "retry",
            "error",
        ]
        assert response.context["is_dead"] and not response.context["cancellable"]
    assert not by_django_id.context["last_is_shown"] and by_last.context["last_is_shown"]
    assert "Flaky: attempt -7" in by_last.content.decode()  # the last attempt's traceback
    dead = staff.get(f"{ADMIN}/retrying/dead/")
    assert [(r["django_id"], str(r["task"].uuid)) for r in dead.context["rows"]] == [
        (django_id, last)
    ]
    listing = staff.get(f"{ADMIN}/retrying/results/?status=error")
    assert [row["django_id"] for row in listing.context["rows"]] == [django_id]


def test_requeue_by_django_id_and_purge_with_csrf(dead_after_retries: Any, staff: Client) -> None:
    django_id = dead_after_retries.id
    app = app_of("retrying")
    last = last_attempt(app, django_id)
    user = staff.get("/admin/").context["user"]
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    act = f"{ADMIN}/retrying/dead/act/"
    refused = strict.post(act, {"action": "requeue", "id": django_id})
    assert refused.status_code == 403
    assert [str(t.uuid) for t in app.dead_letters()] == [last]
    token = csrf_token(strict, f"{ADMIN}/retrying/dead/")
    done = strict.post(
        act, {"action": "requeue", "id": django_id, "csrfmiddlewaretoken": token}, follow=True
    )
    assert done.redirect_chain[-1][0] == f"{ADMIN}/retrying/dead/"
    assert "Requeued 1 dead letter(s)." in [str(m) for m in done.context["messages"]]
    assert app.dead_letters() == []
    assert app.get(last).status == "new"  # the same uuid, back in its queue
    assert tasks.flaky.get_result(django_id).status == compat.TaskResultStatus.READY


def test_purge_from_the_result_page_and_purge_all_needs_the_box_ticked(
    dead_after_retries: Any, staff: Client
) -> None:
    django_id = dead_after_retries.id
    app = app_of("retrying")
    last = last_attempt(app, django_id)
    act = f"{ADMIN}/retrying/dead/act/"
    unticked = staff.post(act, {"action": "purge", "scope": "matching"}, follow=True)
    assert "Tick the box" in " ".join(str(m) for m in unticked.context["messages"])
    assert [str(t.uuid) for t in app.dead_letters()] == [last]
    page = staff.get(f"{ADMIN}/retrying/results/{django_id}/").content.decode()
    assert f'name="back_result" value="{last}"' in page  # the page's own requeue/purge form
    purged = staff.post(act, {"action": "purge", "id": last, "back_result": last}, follow=True)
    assert purged.status_code == 200  # the result is gone: back to the dead letters
    assert purged.redirect_chain[-1][0] == f"{ADMIN}/retrying/dead/"
    assert "Purged 1 dead letter(s)." in [str(m) for m in purged.context["messages"]]
    assert app.dead_letters() == [] and app.get(last) is None
    assert staff.get(f"{ADMIN}/retrying/results/{django_id}/").status_code == 200  # 2 retries


def test_cancel_from_the_result_page_with_csrf(staff: Client) -> None:
    later = tasks.add.using(run_after=datetime.now(UTC) + timedelta(hours=1)).enqueue(1, 2)
    page = f"{ADMIN}/default/results/{later.id}/"
    user = staff.get("/admin/").context["user"]
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post(f"{page}cancel/", {"reason": "no"}).status_code == 403
    assert app_of("default").get(later.id).status == "new"
    token = csrf_token(strict, page)
    response = strict.post(
        f"{page}cancel/", {"reason": "<b>no</b> thanks", "csrfmiddlewaretoken": token}, follow=True
    )
    assert response.redirect_chain[-1][0] == page
    assert f"Cancel {later.id}: cancelled." in [str(m) for m in response.context["messages"]]
    record = app_of("default").get(later.id)
    assert record.status == "cancel" and record.cancel_reason == "<b>no</b> thanks"
    html = response.content.decode()
    assert "<b>no</b>" not in html and "&lt;b&gt;no&lt;/b&gt; thanks" in html
    assert not response.context["cancellable"]
    assert tasks.add.get_result(later.id).status == compat.TaskResultStatus.FAILED


def test_a_broker_that_is_down_is_an_error_page_not_a_crash(
    staff: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qtasks.contrib.django import lookups
    from qtasks.contrib.django.backend import QTasksBackend

    down = QTasksBackend("down", {"OPTIONS": {"broker_url": "redis://127.0.0.1:1/0"}})
    monkeypatch.setattr(lookups, "qtasks_backends", lambda: {"down": down})
    for page in ("", "results/", f"results/{new_task_id()}/", "dead/"):
        response = staff.get(f"{ADMIN}/down/{page}")
        assert response.status_code == 503, page
        assert "BrokerError: Redis at redis://127.0.0.1:1/0 failed" in response.content.decode()
    index = staff.get(f"{ADMIN}/")  # the only backend: its queues page
    assert index.status_code == 302 and index["Location"] == f"{ADMIN}/down/"
    entry = [a for a in staff.get("/admin/").context["app_list"] if a["app_label"] == "qtasks"]
    assert [m["name"] for m in entry[0]["models"]] == ["Queues", "Task results", "Dead letters"]
