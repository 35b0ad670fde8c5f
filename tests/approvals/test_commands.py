"""review_task acts as the person running it: another person only by break-glass, recorded."""

import pytest
from django.core.management import CommandError, call_command

from approvals import selectors
from audit.models import Event
from audit.selectors import instance_timeline
from processes.invoices.models import InvoiceState
from tests.factories import reviewer, start_invoice
from tests.workflows.drain import drain_executions

pytestmark = pytest.mark.django_db


@pytest.fixture
def large_invoice():
    """An invoice needing a manager and then a finance director."""
    reviewer("mona", group="managers", perms=("processes.approve_invoice",))
    reviewer("fred", group="finance", perms=("processes.finance_approve_invoice",))
    invoice = start_invoice(amount=18500)
    drain_executions()
    invoice.refresh_from_db()
    assert invoice.state == InvoiceState.AWAITING_MANAGER
    return invoice


def _as_os_user(monkeypatch, name: str) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: name)


def _snapshot(invoice) -> tuple:
    invoice.refresh_from_db()
    return invoice.state, invoice.version, invoice.context, Event.objects.count()


def _decide(invoice, username: str, *extra: str) -> None:
    task = selectors.active_task_for(instance=invoice)
    call_command("review_task", task.pk, "approve", "--as", username, *extra)


def test_one_operator_cannot_approve_both_levels_as_two_people(monkeypatch, large_invoice):
    _as_os_user(monkeypatch, "ops")
    before = _snapshot(large_invoice)
    with pytest.raises(CommandError, match="break-glass"):
        _decide(large_invoice, "mona")
    assert _snapshot(large_invoice) == before

    # As herself, mona approves her level; the operator still cannot add fred's.
    _as_os_user(monkeypatch, "mona")
    _decide(large_invoice, "mona")
    after_first = _snapshot(large_invoice)
    assert after_first[0] == InvoiceState.AWAITING_FINANCE
    with pytest.raises(CommandError, match="break-glass"):
        _decide(large_invoice, "fred")
    assert _snapshot(large_invoice) == after_first


def test_the_event_records_the_command_and_the_os_user(monkeypatch, large_invoice):
    _as_os_user(monkeypatch, "mona")
    _decide(large_invoice, "mona")
    [approved] = [e for e in instance_timeline(instance=large_invoice) if e.type == "task.approved"]
    assert approved.actor_ref == "mona"
    assert approved.payload["channel"] == {"name": "command", "os_user": "mona"}


def test_break_glass_acts_for_someone_else_and_is_recorded(monkeypatch, large_invoice):
    _as_os_user(monkeypatch, "ops")
    _decide(large_invoice, "mona", "--break-glass", "mona on leave, payment run at 16:00")
    large_invoice.refresh_from_db()
    assert large_invoice.state == InvoiceState.AWAITING_FINANCE
    [approved] = [e for e in instance_timeline(instance=large_invoice) if e.type == "task.approved"]
    assert approved.payload["channel"] == {
        "name": "command",
        "os_user": "ops",
        "break_glass": "mona on leave, payment run at 16:00",
    }


def test_break_glass_does_not_lift_four_eyes(monkeypatch, large_invoice):
    reviewer("bea", group="managers", perms=("processes.approve_invoice",))
    both = reviewer("bea", group="finance", perms=("processes.finance_approve_invoice",))
    _as_os_user(monkeypatch, "ops")
    _decide(large_invoice, both.username, "--break-glass", "cover")
    before = _snapshot(large_invoice)
    with pytest.raises(CommandError, match="four-eyes"):
        _decide(large_invoice, both.username, "--break-glass", "cover again")
    assert _snapshot(large_invoice) == before


def test_a_blank_break_glass_reason_is_no_break_glass(monkeypatch, large_invoice):
    _as_os_user(monkeypatch, "ops")
    before = _snapshot(large_invoice)
    with pytest.raises(CommandError, match="break-glass"):
        _decide(large_invoice, "mona", "--break-glass", "   ")
    assert _snapshot(large_invoice) == before
