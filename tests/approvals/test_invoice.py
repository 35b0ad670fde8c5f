"""The invoice workflow: amount tiers from a rule set, one or two approvals by different
people, then payment through the HTTP connector with the execution's idempotency key."""

import pytest
from django.contrib.auth.models import Group

from approvals import selectors
from approvals.services import SelfApprovalRefused, approve_task, reject_task
from decisions.selectors import latest_decision_for
from opscore.actors import Actor
from processes.invoices.models import InvoiceState
from tests.factories import reviewer, start_invoice
from tests.workflows.drain import drain_executions

pytestmark = pytest.mark.django_db


def _manager(name: str):
    return reviewer(name, group="managers", perms=("processes.approve_invoice",))


def _director(name: str):
    return reviewer(name, group="finance", perms=("processes.finance_approve_invoice",))


def _state(invoice) -> str:
    invoice.refresh_from_db()
    return invoice.state


def test_a_small_invoice_is_paid_without_a_person(payments):
    invoice = start_invoice(amount=250)
    drain_executions()
    assert _state(invoice) == InvoiceState.PAID
    assert selectors.tasks_for(instance=invoice).count() == 0
    assert latest_decision_for(instance=invoice, rule_set="invoice-approval").outputs == {
        "tier": "auto"
    }
    [key] = payments.ledger.requests_by_key
    assert key == f"invoice:{invoice.pk}:payment.execute:v1"
    assert invoice.context["payment"]["payment_id"].startswith("PAY-")


def test_a_medium_invoice_needs_one_manager(payments):
    invoice = start_invoice(amount=4000)
    drain_executions()
    assert _state(invoice) == InvoiceState.AWAITING_MANAGER
    task = selectors.active_task_for(instance=invoice)
    assert (task.step, task.queue.name) == ("manager.approval", "managers")

    approve_task(task=task, actor=Actor.for_user(_manager("mia")))
    drain_executions()
    assert _state(invoice) == InvoiceState.PAID
    assert payments.ledger.stats()["payments"] == 1


def test_a_large_invoice_needs_a_manager_and_a_different_finance_director(payments):
    # One person holding both roles may approve one level only.
    both = reviewer(
        "bea",
        group="managers",
        perms=("processes.approve_invoice", "processes.finance_approve_invoice"),
    )
    both.groups.add(Group.objects.get(name="finance"))
    fay = _director("fay")

    invoice = start_invoice(amount=25000)
    drain_executions()
    approve_task(task=selectors.active_task_for(instance=invoice), actor=Actor.for_user(both))
    assert _state(invoice) == InvoiceState.AWAITING_FINANCE
    finance_task = selectors.active_task_for(instance=invoice)
    assert (finance_task.step, finance_task.queue.name) == ("finance.approval", "finance")

    with pytest.raises(SelfApprovalRefused, match="each approval level needs a different person"):
        approve_task(task=finance_task, actor=Actor.for_user(both))
    assert _state(invoice) == InvoiceState.AWAITING_FINANCE
    assert payments.ledger.stats()["payments"] == 0

    approve_task(task=finance_task, actor=Actor.for_user(fay))
    drain_executions()
    assert _state(invoice) == InvoiceState.PAID
    approvers = [t.decided_by.username for t in selectors.tasks_for(instance=invoice)]
    assert sorted(approvers) == ["bea", "fay"]


def test_the_requester_of_an_invoice_cannot_approve_it(payments):
    mia = _manager("mia")
    invoice = start_invoice(amount=4000, actor=Actor.for_user(mia))
    drain_executions()
    with pytest.raises(SelfApprovalRefused):
        approve_task(task=selectors.active_task_for(instance=invoice), actor=Actor.for_user(mia))


def test_a_finance_director_rejection_stops_payment(payments):
    invoice = start_invoice(amount=25000)
    drain_executions()
    approve_task(
        task=selectors.active_task_for(instance=invoice), actor=Actor.for_user(_manager("mia"))
    )
    reject_task(
        task=selectors.active_task_for(instance=invoice),
        actor=Actor.for_user(_director("fay")),
        reason="duplicate of INV-77",
    )
    drain_executions()
    assert _state(invoice) == InvoiceState.REJECTED
    assert payments.ledger.stats()["requests"] == 0
