"""A supervisor's day in a browser: the team's queues with their counts before anything is
late; then, once the order reviews' two hours have passed and the sweeper has run, the late
tasks escalated to them, with the escalation on the task's timeline, and the email saying so
in the demo's mailbox, its link leading to the task."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from approvals.models import ReviewTask, TaskNotification, TaskStatus
from approvals.services import sweep_review_deadlines
from audit.models import Event
from demo.models import ReceivedMail
from tests.journeys.conftest import log_in, screenshot

pytestmark = pytest.mark.browser


def _queue_row(page, queue: str, step: str):
    return page.locator(f"#overview-queues tr.queue-row[data-queue='{queue}'][data-step='{step}']")


def _waiting_order_reviews():
    tasks = ReviewTask.objects.filter(workflow="order", status=TaskStatus.OPEN)
    assert tasks.count() == 3  # the demo's three orders waiting for review
    return tasks


def _after_the_deadline(tasks):
    """A minute past the last order review's deadline: the clock the rest of the day runs on
    (the live server is in this process, so it reads the same clock)."""
    return time_machine.travel(
        tasks.order_by("due_at").last().due_at + timedelta(minutes=1), tick=True
    )


def test_a_supervisor_sees_the_queues_then_the_escalated_task(page, demo_day, smtp):
    order_tasks = _waiting_order_reviews()

    log_in(page, "supervisor")
    reviews = _queue_row(page, "reviewers", "manual.review")
    expect(reviews.locator("td.open")).to_have_text("3")
    expect(reviews.locator("td.overdue")).to_have_text("0")
    expect(_queue_row(page, "managers", "manager.approval").locator("td.open")).to_have_text("3")
    expect(page.locator("#escalated-link")).to_have_text("0 escalated")
    screenshot(page, "supervisor-queues-before-breach")
    assert not order_tasks.filter(escalation_level__gt=0).exists()

    with _after_the_deadline(order_tasks):
        # The sweeper, a worker schedule in the demo, finds the three reviews late.
        assert sweep_review_deadlines().escalations == 3

        page.reload()
        expect(reviews.locator("td.overdue")).to_have_text("3")
        with page.expect_navigation():
            page.locator("#escalated-link").click()
        late = page.locator("#result_list").get_by_role("link", name="DEMO-0003")
        expect(page.locator("#result_list tbody tr")).to_have_count(3)
        screenshot(page, "supervisor-escalated-list")
        with page.expect_navigation():
            late.click()
        expect(page.locator("div.field-escalation")).to_contain_text("level 1 to supervisors")
        expect(page.locator("div.field-timeline")).to_contain_text("task.escalated")
        expect(page.get_by_role("button", name="Approve")).to_be_visible()  # theirs to decide
        screenshot(page, "supervisor-escalated-task")

    task = ReviewTask.objects.get(workflow="order", title__contains="DEMO-0003")
    assert (task.escalation_level, task.escalated_to) == (1, Group.objects.get(name="supervisors"))
    assert task.status == TaskStatus.OPEN  # escalated, still waiting for a decision
    assert Event.objects.filter(type="task.escalated", payload__task=task.pk).count() == 1
    notice = TaskNotification.objects.get(task=task, kind="escalation")
    assert notice.sent_at is not None
    assert "supervisor@opscore.invalid" in notice.recipients


def test_the_escalation_email_reaches_the_supervisor_in_the_demo_mailbox(page, demo_day, mail_sink):
    order_tasks = _waiting_order_reviews()
    with _after_the_deadline(order_tasks):
        report = sweep_review_deadlines()
        assert (report.escalations, report.emails_sent, report.emails_failed) == (3, 3, 0)

        log_in(page, "supervisor")
        page.goto("/admin/demo/receivedmail/")
        mails = page.locator("#result_list").get_by_role("link", name="Escalated (level 1)")
        expect(mails).to_have_count(3)
        with page.expect_navigation():
            page.locator("#result_list").get_by_role("link", name="DEMO-0004").click()
        expect(page.locator("div.field-to")).to_contain_text("supervisor@opscore.invalid")
        screenshot(page, "supervisor-escalation-mail")
        with page.expect_navigation():
            page.locator("div.field-message a").first.click()
        expect(page.locator("div.field-escalation")).to_contain_text("level 1 to supervisors")
        expect(page.locator("#content")).to_contain_text("DEMO-0004")

    received = ReceivedMail.objects.filter(subject__startswith="[opscore] Escalated (level 1)")
    assert received.count() == 3
    assert all("supervisor@opscore.invalid" in mail.recipient_list for mail in received)
