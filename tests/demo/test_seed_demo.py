import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from audit.models import Event
from processes.invoices.models import Invoice
from processes.orders.models import Order

pytestmark = pytest.mark.django_db


def test_seed_demo_can_run_twice_without_duplicating(capsys):
    call_command("seed_demo", "--password", "pw-for-tests-123")
    first = (
        User.objects.count(),
        Order.objects.count(),
        Invoice.objects.count(),
        Event.objects.count(),
    )
    assert first[2] == 4
    call_command("seed_demo", "--password", "pw-for-tests-123")
    again = (
        User.objects.count(),
        Order.objects.count(),
        Invoice.objects.count(),
        Event.objects.count(),
    )
    assert again == first
    assert "0 user(s), 0 order(s) and 0 invoice(s) created" in capsys.readouterr().out
    assert User.objects.get(username="admin").check_password("pw-for-tests-123")
    assert User.objects.get(username="reviewer").has_perm("processes.review_order")
    assert User.objects.get(username="reviewer").has_perm("approvals.work_reviewtask")
    assert User.objects.get(username="director").has_perm("processes.finance_approve_invoice")


def test_every_demo_user_reads_their_mail_and_a_supervisor_reads_all_of_it():
    from demo.seed import USERS

    call_command("seed_demo", "--password", "pw-for-tests-123")
    for username, _, _ in USERS:
        user = User.objects.get(username=username)
        assert user.email == f"{username}@opscore.invalid"
        assert user.has_perm("demo.view_receivedmail"), username
    assert User.objects.get(username="supervisor").has_perm("demo.read_all_mail")
    assert not User.objects.get(username="reviewer").has_perm("demo.read_all_mail")


def _refund_awaiting_approval():
    """A 1,200 refund the demo requester asked for, past its eligibility check."""
    from approvals import selectors
    from opscore.actors import Actor
    from privacy import sealing
    from processes.refunds.events import REFUND_REQUESTED_SCHEMA
    from tests.factories import refund_requested_event
    from workflows import services
    from workflows.models import Execution

    envelope = refund_requested_event(amount=1200, days_ago=10)
    refund = services.start_workflow(
        workflow="refund",
        correlation_key=envelope["correlation_key"],
        payload=sealing.seal_payload(
            schema=REFUND_REQUESTED_SCHEMA,
            payload=envelope["payload"],
            fallback_ref=envelope["correlation_key"],
        ),
        actor=Actor.for_user(User.objects.get(username="requester")),
    )
    [eligibility] = Execution.objects.filter(instance_id=refund.pk, step="refund.eligibility")
    services.run_execution(execution_id=eligibility.pk)
    return refund, selectors.active_task_for(instance=refund)


def test_a_demo_user_approves_a_refund_the_requester_asked_for():
    from approvals.services import approve_task
    from opscore.actors import Actor
    from processes.refunds.models import Refund, RefundState

    call_command("seed_demo", "--password", "pw-for-tests-123")
    refund, task = _refund_awaiting_approval()
    assert task.queue.name == "refund-approvers"

    approvers = User.objects.filter(groups__name="refund-approvers")
    assert [user.username for user in approvers] == ["approver"]
    approve_task(task=task, actor=Actor.for_user(approvers[0]))

    assert Refund.objects.get(pk=refund.pk).state == RefundState.PAYING


def test_the_supervisor_a_refund_escalates_to_opens_the_refund(client):
    from django.urls import reverse

    from processes.refunds.escalation import ESCALATION_POLICIES

    call_command("seed_demo", "--password", "pw-for-tests-123")
    refund, _ = _refund_awaiting_approval()
    assert {policy["escalate_to"] for policy in ESCALATION_POLICIES} == {"supervisors"}

    client.force_login(User.objects.get(username="supervisor"))
    response = client.get(reverse("admin:processes_refund_change", args=[refund.pk]))

    assert response.status_code == 200
    assert refund.correlation_key in response.content.decode()
