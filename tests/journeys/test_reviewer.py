"""A reviewer's day in a browser: from the start page to the team's queue, claim an order's
review, find it in My tasks, approve it with one click on the task page and see the order move
on; a rejection without a reason is refused with a message that says so, and changes nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from approvals.models import ReviewTask, TaskStatus
from audit.models import Event
from processes.orders.models import Order, OrderState
from tests.journeys.conftest import log_in, screenshot, worker_round

pytestmark = pytest.mark.browser


def _messages(page):
    return page.locator("ul.messagelist")


def _open_task(page, order_key: str) -> None:
    with page.expect_navigation():
        page.locator("#result_list").get_by_role("link", name=order_key).click()
    expect(page.locator("#task-actions")).to_be_visible()


def test_a_reviewer_approves_from_the_task_page_and_the_order_moves_on(page, demo_day):
    reviewer = User.objects.get(username="reviewer")
    log_in(page, "reviewer")
    queue = page.locator("#overview-queues tr.queue-row[data-queue='reviewers']")
    expect(queue.locator("td.open")).to_have_text("3")
    with page.expect_navigation():
        queue.get_by_role("link").click()
    _open_task(page, "DEMO-0003")
    expect(page.locator("#content")).to_contain_text("Grace Hopper")  # the order's customer
    with page.expect_navigation():
        page.get_by_role("button", name="Claim").click()
    expect(_messages(page)).to_contain_text("claimed: it is yours")

    with page.expect_navigation():
        page.get_by_role("link", name="My tasks").first.click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    screenshot(page, "reviewer-my-tasks")
    _open_task(page, "DEMO-0003")
    screenshot(page, "reviewer-task-page")
    with page.expect_navigation():
        page.get_by_role("button", name="Approve").click()
    expect(_messages(page)).to_contain_text("DEMO-0003 approved; now Dispatching")
    expect(page.locator("div.field-decision_made")).to_contain_text("Approved")
    screenshot(page, "reviewer-approved")

    order = Order.objects.get(correlation_key="DEMO-0003")
    task = ReviewTask.objects.get(workflow="order", instance_id=order.pk)
    assert order.state == OrderState.DISPATCHING
    assert (task.status, task.decided_by, task.assignee) == (
        TaskStatus.APPROVED,
        reviewer,
        reviewer,
    )
    # The worker ships it; the order's page, one click from the message, shows where it went.
    assert worker_round() == 1
    with page.expect_navigation():
        _messages(page).get_by_role("link", name="DEMO-0003").click()
    expect(page.locator("div.field-state")).to_contain_text("Awaiting proof of delivery")
    diagram = page.locator("svg.state-diagram")
    expect(diagram.locator("g.state.current")).to_have_attribute("data-state", "awaiting_pod")
    visited = diagram.locator("g.state.visited")
    expect(visited).to_have_count(3)  # received, in review, dispatching
    expect(diagram.locator("g.edge.taken[data-transition='approve']")).to_have_count(1)
    screenshot(page, "reviewer-order-moved-on")
    order.refresh_from_db()
    assert order.state == OrderState.AWAITING_POD


def test_a_rejection_without_a_reason_is_refused_and_changes_nothing(page, demo_day):
    order = Order.objects.get(correlation_key="DEMO-0004")
    task = ReviewTask.objects.get(workflow="order", instance_id=order.pk)
    events_before = Event.objects.count()

    log_in(page, "reviewer")
    page.goto("/admin/approvals/teamtask/")
    _open_task(page, "DEMO-0004")
    page.locator("#task-text").fill("   ")
    with page.expect_navigation():
        page.get_by_role("button", name="Reject").click()
    expect(_messages(page)).to_contain_text("A reason is required to reject: nothing was changed.")
    expect(page.get_by_role("button", name="Reject")).to_be_visible()  # still undecided
    screenshot(page, "reviewer-reject-refused")

    order.refresh_from_db()
    task.refresh_from_db()
    assert order.state == OrderState.IN_REVIEW
    assert (task.status, task.decided_by, task.reason) == (TaskStatus.OPEN, None, "")
    assert Event.objects.count() == events_before
