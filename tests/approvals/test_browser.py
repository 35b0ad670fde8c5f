"""A reviewer works their queue in a real browser: log in, claim, approve, see the order move on.

Playwright drives Debian's chromium (installed by the fixture below when missing, as CI starts
from a fresh machine); the queue page is saved to artifacts/ as a screenshot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections
from playwright.sync_api import expect

from approvals import selectors
from approvals.models import TaskStatus
from opscore.actors import Actor
from processes.orders.models import OrderState
from tests.factories import order_in_review, reviewer, user_with_perms

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(settings.BASE_DIR) / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium; installed with apt when missing and we may (root)."""
    if not CHROMIUM.exists() and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env, timeout=1200
        )
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing and could not be installed (need root and apt-get)")
    return CHROMIUM


@pytest.fixture
def browser_page(chromium, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # around it are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(20_000)
        yield page
        browser.close()
        # A connection opened by the ORM calls made while Playwright's loop runs outlived the
        # test and kept PostgreSQL from dropping the test database at the end of the session
        # ("being accessed by other users"); closing every connection here ends it.
        connections.close_all()


def _run_action(page, *, task_id: int, action: str) -> None:
    page.check(f"input[name=_selected_action][value='{task_id}']")
    page.select_option("select[name=action]", action)
    with page.expect_navigation():
        page.click("button[name=index]")


def _open_my_tasks(page) -> None:
    with page.expect_navigation():
        page.get_by_role("link", name="My tasks").first.click()


@pytest.mark.browser
def test_a_reviewer_claims_and_approves_an_order_in_the_browser(live_server, live_db, browser_page):
    requester = user_with_perms(username="rick")
    rita = reviewer("rita", perms=("processes.view_order",))
    order = order_in_review(actor=Actor.for_user(requester), value=2400)
    task = selectors.active_task_for(instance=order)
    page = browser_page

    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", rita.username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")
    _open_my_tasks(page)
    expect(page.locator("p.paginator")).to_contain_text("0 my tasks")

    with page.expect_navigation():
        page.get_by_role("link", name="Unassigned").first.click()
    expect(page.locator("#result_list")).to_contain_text(order.correlation_key)
    _run_action(page, task_id=task.pk, action="claim")
    expect(page.locator("ul.messagelist")).to_contain_text("Claimed 1 task(s).")

    _open_my_tasks(page)
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(order.correlation_key)
    expect(rows.first).to_contain_text("rita")
    ARTIFACTS.mkdir(exist_ok=True)
    # One file per backend: CI runs the SQLite and PostgreSQL suites side by side.
    screenshot = ARTIFACTS / f"approvals-my-tasks-{connection.vendor}.png"
    page.screenshot(path=str(screenshot), full_page=True)

    _run_action(page, task_id=task.pk, action="approve")
    expect(page.locator("ul.messagelist")).to_contain_text("Approved 1 task(s).")
    expect(page.locator("p.paginator")).to_contain_text("0 my tasks")

    page.goto(f"{live_server.url}/admin/processes/order/{order.pk}/change/")
    expect(page.locator("div.field-state")).to_contain_text("Dispatching")
    order.refresh_from_db()
    task.refresh_from_db()
    assert order.state == OrderState.DISPATCHING
    assert (task.status, task.decided_by) == (TaskStatus.APPROVED, rita)
