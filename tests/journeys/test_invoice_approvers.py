"""A manager and a finance director approve a large invoice in a browser, each on the task
page: the manager's approval sends it to finance; the manager, covering finance too this week,
is offered no Approve on the second level and is refused if they press it anyway; the director
approves and the invoice is paid."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from playwright.sync_api import expect

from approvals.models import ReviewTask, TaskStatus
from audit.models import Event
from processes.invoices.models import Invoice, InvoiceState
from tests.journeys.conftest import log_in, screenshot, worker_round

pytestmark = pytest.mark.browser

LARGE = "DEMO-INV-0003"  # 18,500 EUR: a manager, then a finance director


def _messages(page):
    return page.locator("ul.messagelist")


def _open_from_team_queue(page, key: str) -> None:
    page.goto("/admin/approvals/teamtask/")
    with page.expect_navigation():
        page.locator("#result_list").get_by_role("link", name=key).click()


def _finance_task(invoice: Invoice) -> ReviewTask:
    return ReviewTask.objects.get(
        instance_id=invoice.pk, workflow="invoice", step="finance.approval"
    )


def test_a_large_invoice_needs_a_manager_and_a_different_finance_director(page, demo_day, payments):
    manager = User.objects.get(username="manager")
    director = User.objects.get(username="director")
    invoice = Invoice.objects.get(correlation_key=LARGE)
    assert invoice.state == InvoiceState.AWAITING_MANAGER

    log_in(page, "manager")
    _open_from_team_queue(page, LARGE)
    expect(page.locator("#content")).to_contain_text("18,500")
    with page.expect_navigation():
        page.get_by_role("button", name="Approve").click()
    expect(_messages(page)).to_contain_text(f"{LARGE} approved; now Awaiting finance")
    screenshot(page, "invoice-manager-approved")
    invoice.refresh_from_db()
    assert invoice.state == InvoiceState.AWAITING_FINANCE

    # This week the manager covers finance too: the second level lands in their queue, but
    # one person approves one level only.
    manager.groups.add(Group.objects.get(name="finance"))
    finance_task = _finance_task(invoice)
    _open_from_team_queue(page, LARGE)
    expect(page.locator("#task-actions")).to_contain_text("four-eyes")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    screenshot(page, "invoice-second-level-not-offered")
    events_before = Event.objects.count()
    # Pressed anyway, as from a tab opened before (the form the button would post):
    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    work_url = reverse("admin:approvals_teamtask_work", args=[finance_task.pk])
    refused = page.request.post(
        work_url,
        form={"csrfmiddlewaretoken": token, "decision": "approve", "text": ""},
        headers={"Referer": page.url},
        max_redirects=0,
    )
    assert refused.status == 302
    page.goto(refused.headers["location"])
    expect(_messages(page)).to_contain_text("each approval level needs a different person")
    expect(_messages(page)).to_contain_text("nothing was changed")
    invoice.refresh_from_db()
    finance_task.refresh_from_db()
    assert invoice.state == InvoiceState.AWAITING_FINANCE
    assert (finance_task.status, finance_task.decided_by) == (TaskStatus.OPEN, None)
    assert Event.objects.count() == events_before

    log_in(page, "director")
    _open_from_team_queue(page, LARGE)
    with page.expect_navigation():
        page.get_by_role("button", name="Approve").click()
    expect(_messages(page)).to_contain_text(f"{LARGE} approved; now Paying")
    screenshot(page, "invoice-director-approved")
    assert worker_round() == 1  # the payment
    invoice.refresh_from_db()
    assert invoice.state == InvoiceState.PAID
    approvals = ReviewTask.objects.filter(instance_id=invoice.pk, workflow="invoice")
    assert {(t.step, t.decided_by, t.status) for t in approvals} == {
        ("manager.approval", manager, TaskStatus.APPROVED),
        ("finance.approval", director, TaskStatus.APPROVED),
    }
    assert payments.ledger.stats()["payments"] == 2  # the demo's small invoice, and this one
