"""The dashboard in a real browser: Debian's headless Chromium (``/usr/bin/chromium``,
driven by Playwright's Python package, no browser download), with a worker running and
tasks flowing. The numbers move without a reload; a failed task's traceback opens; a
dead letter requeued from the page runs; a running task is cancelled from its page; the
schedules page lists a schedule's last run, linked to it.

``QTASKS_SCREENSHOTS=docs/images`` saves a screenshot of each page there (how the
pictures in docs/dashboard.md are made)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from qtasks import QueueTasks
from qtasks.testing import drain, worker_thread

from .conftest import HOUR, Served, fire_once

CHROMIUM = "/usr/bin/chromium"
#: Flags this machine's closed network needs (no background connections to Google).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.parametrize("broker_url", ["sqlite", "redis", "postgres"], indirect=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):  # never a skip: CI installs it (apt-get install chromium)
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield page
    context.close()
    assert errors == [], errors  # no script error, no CSP violation, no missing file


def screenshot(page: Page, name: str) -> None:
    where = os.environ.get("QTASKS_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(where) / f"dashboard-{name}.png"), full_page=True)


def poll(page: Page, done: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until ``done()`` (read through the page's locators; the page's CSP forbids
    the string evaluation ``wait_for_function`` needs)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout}s on {page.url}")
        page.wait_for_timeout(200)


def test_the_overview_moves_while_tasks_flow(
    app: QueueTasks, dashboard: Served, page: Page
) -> None:
    app.add_tasks([("add", (i, i)) for i in range(5)])
    app.add_task("fail", "the disk is full")
    with worker_thread(app, concurrency=4):
        page.goto(dashboard.url + "/")
        page.evaluate("window.notReloaded = true")
        success = page.locator('[data-count="success"]')
        expect(success).to_have_text("5", timeout=20_000)
        stop = threading.Event()

        def flow() -> None:  # tasks keep coming while the page is open
            n = 0
            while not stop.is_set() and n < 40:
                app.add_task("add", n, n)
                n += 1
                time.sleep(0.1)

        feeder = threading.Thread(target=flow, daemon=True)
        feeder.start()
        try:
            poll(page, lambda: int(success.text_content() or 0) >= 20)
        finally:
            stop.set()
            feeder.join(10)
        assert page.evaluate("window.notReloaded") is True  # live updates, no full reload
        worker_row = page.locator("tr[data-worker] td[data-field=state]")
        expect(worker_row.first).to_have_text("alive")
        chart = page.locator("#chart")
        poll(page, lambda: int(chart.get_attribute("data-total") or 0) > 20)
        assert page.locator("#chart canvas").count() == 1  # uPlot drew it
        expect(page.locator("table.failures")).to_contain_text("the disk is full")
        screenshot(page, "overview")


def test_a_failed_task_opens_with_its_traceback_and_requeues(
    app: QueueTasks, dashboard: Served, page: Page, tmp_path: Path
) -> None:
    flag = tmp_path / "ready"

    @app.task
    def picky(path: str) -> str:
        if not os.path.exists(path):
            raise FileNotFoundError(f"no {path} yet")
        return "ran"

    failed = app.add_task("picky", str(flag))
    assert failed
    with worker_thread(app, concurrency=2):
        deadline = time.monotonic() + 20
        while app.get(failed.uuid).status != "error" and time.monotonic() < deadline:
            time.sleep(0.05)
        page.goto(dashboard.url + "/dead")
        row = page.locator(f'tr[data-task="{failed.uuid}"]')
        expect(row).to_contain_text("FileNotFoundError")
        screenshot(page, "dead")
        row.locator("a").first.click()
        expect(page.locator("pre.traceback")).to_contain_text(f"FileNotFoundError: no {flag} yet")
        expect(page.locator('[data-field="status"]')).to_have_text("error")
        screenshot(page, "task")
        flag.write_text("now")
        page.goto(dashboard.url + "/dead")
        page.locator(f'tr[data-task="{failed.uuid}"] button[name="requeue"]').click()
        expect(page.locator(".notice")).to_have_text("requeued 1 dead letter(s)")
        page.goto(f"{dashboard.url}/tasks/{failed.uuid}")
        expect(page.locator('[data-field="status"]')).to_have_text("success", timeout=20_000)
        expect(page.locator('[data-field="result"]')).to_have_text('"ran"')
        page.goto(dashboard.url + "/tasks")
        expect(page.locator(f'tr[data-task="{failed.uuid}"]')).to_contain_text("success")
        screenshot(page, "tasks")


def test_a_running_task_is_cancelled_from_its_page(
    app: QueueTasks, dashboard: Served, page: Page
) -> None:
    running = app.add_task("sleepy", 60)
    assert running
    with worker_thread(app, concurrency=2):
        page.goto(f"{dashboard.url}/tasks/{running.uuid}")
        expect(page.locator('[data-field="status"]')).to_have_text("process", timeout=20_000)
        page.locator("input[name=reason]").fill("changed my mind")
        page.locator("button[name=cancel]").click()
        expect(page.locator(".notice")).to_have_text("cancel: requested")
        expect(page.locator('[data-field="status"]')).to_have_text("cancel", timeout=20_000)
        expect(page.locator("dl.fields")).to_contain_text("changed my mind")
    assert app.get(running.uuid).status == "cancel"


def test_purging_asks_first(app: QueueTasks, dashboard: Served, page: Page) -> None:
    failed = app.add_task("fail", "gone for good")
    assert failed
    runner = threading.Thread(target=drain, args=(app,))  # (Playwright holds this thread's loop)
    runner.start()
    runner.join(30)
    page.goto(dashboard.url + "/dead")
    button = page.locator(f'tr[data-task="{failed.uuid}"] button[name="purge"]')
    page.once("dialog", lambda dialog: dialog.dismiss())
    button.click()
    page.wait_for_timeout(300)
    assert [t.uuid for t in app.dead_letters()] == [failed.uuid]  # dismissed: nothing done
    page.once("dialog", lambda dialog: dialog.accept())
    button.click()
    expect(page.locator(".notice")).to_have_text("purged 1 dead letter(s)")
    assert app.dead_letters() == []


def test_the_schedules_page_links_a_schedule_to_its_last_run(
    app: QueueTasks, dashboard: Served, page: Page
) -> None:
    hourly = app.schedule("add", name="hourly", every=HOUR, args=[20, 22])
    app.schedule("add", name="nightly", cron="0 3 * * *")

    def fire_and_run() -> None:  # (Playwright holds this thread's loop)
        fire_once(app, hourly)
        drain(app)

    runner = threading.Thread(target=fire_and_run)
    runner.start()
    runner.join(30)
    page.goto(dashboard.url + "/")
    page.locator("header nav a", has_text="Schedules").click()
    expect(page).to_have_url(dashboard.url + "/schedules")
    expect(page.locator('tr[data-schedule="nightly"] [data-field="status"]')).to_have_text(
        "not run yet"
    )
    fired = page.locator('tr[data-schedule="hourly"]')
    expect(fired).to_contain_text("every 3600 s")
    live = page.locator("#live")
    poll(page, lambda: live.get_attribute("data-updated") is not None)  # it refreshes itself
    screenshot(page, "schedules")
    fired.locator('[data-field="status"] a').click()
    expect(page.locator('[data-field="status"]')).to_have_text("success")
    expect(page.locator('[data-field="result"]')).to_have_text("42")
