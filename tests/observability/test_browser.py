"""The start page in a real browser: a supervisor's queues and an operator's dead letters and
alerts render, with the charts drawn from inline SVG (no request leaves the machine); the pages
are saved to artifacts/ as screenshots.

Reuses the approvals browser test's Debian chromium fixtures (conftest.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from approvals.models import ReviewTask
from tests.approvals.test_browser import ARTIFACTS, PASSWORD
from tests.factories import order_in_review, start_order, user_with_perms
from tests.observability.test_overview import dead_letter, open_alert


def _log_in(page, base: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")


def _offline_requests(page, base: str) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    return seen


@pytest.mark.browser
def test_the_overview_as_a_supervisor_and_as_an_operator(live_server, live_db, browser_page):
    page = browser_page
    base = live_server.url
    for _ in range(3):
        order_in_review()
    late = order_in_review()
    ReviewTask.objects.filter(instance_id=late.pk).update(
        due_at=timezone.now() - timedelta(minutes=10),
        opened_at=timezone.now() - timedelta(hours=2, minutes=10),
    )
    dead_letter(start_order())
    open_alert("dispatch dead letters")
    user_with_perms(
        "approvals.work_reviewtask",
        "processes.review_order",
        "processes.view_order",
        username="sue",
        group="supervisors",
    )
    user_with_perms(
        "workflows.view_execution",
        "processes.view_order",
        "observability.view_alert",
        "observability.view_alertrule",
        username="otto",
    )
    requests = _offline_requests(page, base)
    ARTIFACTS.mkdir(exist_ok=True)

    _log_in(page, base, "sue")
    queues = page.locator("#overview-queues")
    expect(queues).to_contain_text("reviewers: 4 open")
    expect(queues.locator("td.overdue")).to_have_text("1")
    expect(page.locator("#overview-operations")).to_have_count(0)
    expect(page.locator("svg.overview-chart")).to_have_count(4)
    page.screenshot(
        path=str(ARTIFACTS / f"overview-supervisor-{connection.vendor}.png"), full_page=True
    )

    _log_in(page, base, "otto")
    operations = page.locator("#overview-operations")
    expect(operations).to_contain_text("order / dispatch.execute: 1 dead")
    expect(operations).to_contain_text("dispatch dead letters")
    expect(page.locator("#overview-queues")).to_have_count(0)
    page.screenshot(
        path=str(ARTIFACTS / f"overview-operator-{connection.vendor}.png"), full_page=True
    )

    with page.expect_navigation():
        page.get_by_role("link", name="system map").click()
    with page.expect_navigation():
        page.locator("#workflow-order h2 a").click()
    expect(page.locator("svg.state-diagram g.state")).to_have_count(7)
    page.screenshot(
        path=str(ARTIFACTS / f"system-map-order-{connection.vendor}.png"), full_page=True
    )

    assert [url for url in requests if not url.startswith(base)] == []
