"""The requester's side, in a browser: a reviewer asks for information on the task page; the
email reaches the requester's mailbox in the demo's mail sink; they read it in admin, follow
its link and answer; the task is back with the reviewer, the answer on it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from approvals.models import ReviewTask
from approvals.services import deliver_notifications
from audit.models import Event
from demo.models import ReceivedMail
from processes.orders.models import Order, OrderState
from tests.conftest import wait_until
from tests.journeys.conftest import log_in, screenshot

pytestmark = pytest.mark.browser

QUESTION = "Which loading bay, and after what time?"
ANSWER = "Bay 4, after 14:00."


def _messages(page):
    return page.locator("ul.messagelist")


def test_the_requester_answers_the_information_request_from_their_mailbox(
    page, demo_day, mail_sink
):
    order = Order.objects.get(correlation_key="DEMO-0005")
    task = ReviewTask.objects.get(workflow="order", instance_id=order.pk)
    reviewer = User.objects.get(username="reviewer")

    log_in(page, "reviewer")
    page.goto("/admin/approvals/teamtask/")
    with page.expect_navigation():
        page.locator("#result_list").get_by_role("link", name="DEMO-0005").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Claim").click()
    page.locator("#task-text").fill(QUESTION)
    with page.expect_navigation():
        page.get_by_role("button", name="Request information").click()
    expect(_messages(page)).to_contain_text("the requester is emailed")
    screenshot(page, "requester-information-requested")
    task.refresh_from_db()
    assert task.information_requested == QUESTION

    # The worker's delivery job, queued as the request committed; the sink stores the mail.
    assert deliver_notifications() == (1, 0)
    assert wait_until(lambda: ReceivedMail.objects.exists(), timeout=10)

    log_in(page, "requester")
    page.goto("/admin/demo/receivedmail/")
    with page.expect_navigation():
        page.locator("#result_list").get_by_role("link", name="DEMO-0005").click()
    expect(page.locator("div.field-message")).to_contain_text(QUESTION)
    screenshot(page, "requester-mailbox")
    with page.expect_navigation():
        page.locator("div.field-message a").first.click()
    expect(page.locator("#question")).to_have_text(QUESTION)
    page.locator("#answer").fill(ANSWER)
    with page.expect_navigation():
        page.get_by_role("button", name="Send the answer").click()
    expect(page.locator("#answered")).to_contain_text("the reviewers have it now")
    screenshot(page, "requester-answered")

    task.refresh_from_db()
    order.refresh_from_db()
    assert task.information_answer == ANSWER
    assert (task.assignee, task.decided_by) == (reviewer, None)  # back with them, undecided
    assert order.state == OrderState.IN_REVIEW
    assert (
        Event.objects.filter(type__startswith="task.information", payload__task=task.pk).count()
        == 2
    )

    log_in(page, "reviewer")
    with page.expect_navigation():
        page.get_by_role("link", name="My tasks").first.click()
    with page.expect_navigation():
        page.locator("#result_list").get_by_role("link", name="DEMO-0005").click()
    expect(page.locator("#content")).to_contain_text(ANSWER)
    expect(page.get_by_role("button", name="Approve")).to_be_visible()
    screenshot(page, "requester-answer-on-the-task")
