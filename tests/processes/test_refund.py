"""The refund workflow end to end: requested through the API with an integration key, judged by
the `refund-eligibility` rule set, approved by a person other than its requester when large,
paid through the payments connector with the execution's key, the customer told by email."""

import json
import uuid

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone
from rest_framework.test import APIClient

from approvals import selectors
from approvals.models import TaskStatus
from approvals.services import SelfApprovalRefused, approve_task
from audit.models import Event
from decisions.models import RuleSetVersion
from decisions.selectors import latest_decision_for
from integrations.models import EventType, Rejection
from integrations.services import start_manually
from opscore.actors import Actor
from processes.refunds.models import Refund, RefundState
from tests.conftest import wait_until
from tests.factories import api_key, refund_requested_event, user_with_perms
from tests.workflows.drain import drain_executions
from workflows.models import Execution
from workflows.models.execution import ExecutionStatus

pytestmark = pytest.mark.django_db


def _approver(name: str) -> User:
    return user_with_perms(
        "approvals.work_reviewtask",
        "processes.approve_refund",
        username=name,
        group="refund-approvers",
    )


def _post(envelope: dict):
    """POST /api/v1/events as the shop's integration, with its own key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key()}")
    return client.post(
        "/api/v1/events",
        json.dumps(envelope),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def _request_through_the_api(envelope: dict) -> Refund:
    response = _post(envelope)
    assert response.status_code == 201, response.content
    assert response.json()["instance"]["workflow"] == "refund"
    return Refund.objects.get(correlation_key=envelope["correlation_key"])


def _state(refund: Refund) -> str:
    refund.refresh_from_db()
    return refund.state


def test_a_large_refund_is_decided_approved_paid_and_the_customer_told(payments, smtp):
    refund = _request_through_the_api(refund_requested_event(amount=1200, days_ago=10))
    assert refund.state == RefundState.REQUESTED

    drain_executions()
    assert _state(refund) == RefundState.AWAITING_APPROVAL
    decision = latest_decision_for(instance=refund, rule_set="refund-eligibility")
    published = RuleSetVersion.objects.get(rule_set__slug="refund-eligibility", number=1)
    assert decision.version == published
    assert decision.inputs == {"days_since_purchase": 10, "amount": 1200.0}
    assert decision.outputs["eligible"] is True
    assert decision.outputs["approval_required"] is True
    task = selectors.active_task_for(instance=refund)
    assert (task.step, task.queue.name) == ("refund.approval", "refund-approvers")
    assert payments.ledger.stats()["requests"] == 0

    approve_task(task=task, actor=Actor.for_user(_approver("rosa")))
    drain_executions()

    assert _state(refund) == RefundState.COMPLETED
    [key] = payments.ledger.requests_by_key
    assert key == f"refund:{refund.pk}:refund.payment:v2"
    [payment] = payments.ledger.payments.values()
    assert payment["amount"] == "1200"
    assert refund.context["payment"]["payment_id"] == payment["payment_id"]
    [mail] = smtp.received()
    assert mail["X-Envelope-To"] == "ada@example.test"
    assert "Your refund" in mail["Subject"]
    assert payment["payment_id"] in mail.get_payload()
    assert refund.context["notice"] == {"sent": True}
    task.refresh_from_db()
    assert (task.status, task.decided_by.username) == (TaskStatus.APPROVED, "rosa")


def test_the_person_who_requested_a_refund_cannot_approve_it(payments, smtp):
    # An agent who may approve refunds asks for one on a customer's behalf in the admin.
    agent = _approver("ann")
    agent.user_permissions.add(Permission.objects.get(codename="start_workflow_manually"))
    envelope = refund_requested_event(amount=800)
    start_manually(
        event_type=EventType.objects.get(name="refund.requested"),
        payload=envelope["payload"],
        correlation_key=envelope["correlation_key"],
        idempotency_key=uuid.uuid4().hex,
        occurred_at=timezone.now(),
        user=User.objects.get(pk=agent.pk),
    )
    refund = Refund.objects.get(correlation_key=envelope["correlation_key"])
    assert refund.started_by == agent
    drain_executions()
    task = selectors.active_task_for(instance=refund)
    events_before = Event.objects.count()

    with pytest.raises(SelfApprovalRefused, match="four-eyes"):
        approve_task(task=task, actor=Actor.for_user(agent))

    task.refresh_from_db()
    assert (task.status, task.decided_by) == (TaskStatus.OPEN, None)
    assert _state(refund) == RefundState.AWAITING_APPROVAL
    assert payments.ledger.stats()["requests"] == 0
    assert smtp.received() == []
    assert Event.objects.count() == events_before

    approve_task(task=task, actor=Actor.for_user(_approver("rosa")))
    drain_executions()
    assert _state(refund) == RefundState.COMPLETED
    assert payments.ledger.stats()["payments"] == 1


def test_a_small_refund_is_paid_without_a_person(payments, smtp):
    refund = _request_through_the_api(refund_requested_event(amount=120))
    drain_executions()

    assert _state(refund) == RefundState.COMPLETED
    assert selectors.tasks_for(instance=refund).count() == 0
    assert (
        latest_decision_for(instance=refund, rule_set="refund-eligibility").outputs[
            "approval_required"
        ]
        is False
    )
    [key] = payments.ledger.requests_by_key
    assert key == f"refund:{refund.pk}:refund.payment:v1"
    assert len(smtp.received()) == 1


@pytest.mark.parametrize(
    ("amount", "days_ago", "reason"),
    [(120, 45, "more than 30 days after purchase"), (9000, 2, "above the 5000 refund limit")],
)
def test_an_ineligible_refund_ends_rejected_unpaid_and_unasked(
    payments, smtp, amount, days_ago, reason
):
    refund = _request_through_the_api(refund_requested_event(amount=amount, days_ago=days_ago))
    drain_executions()

    assert _state(refund) == RefundState.REJECTED
    assert refund.context["eligibility"]["reason"] == reason
    assert selectors.tasks_for(instance=refund).count() == 0
    assert payments.ledger.stats()["requests"] == 0
    assert smtp.received() == []


def test_the_requested_schema_refuses_an_unknown_field():
    response = _post(refund_requested_event(amount=100, iban="DE00"))

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("schema_violation")
    assert Rejection.objects.filter(
        problem="schema_violation", event_type="refund.requested"
    ).exists()
    assert not Refund.objects.exists()


def test_a_refund_dated_after_its_purchase_goes_to_the_dead_letter_unpaid(payments, smtp):
    refund = _request_through_the_api(refund_requested_event(amount=100, days_ago=-2))
    drain_executions()

    assert _state(refund) == RefundState.REQUESTED
    [execution] = Execution.objects.filter(instance_id=refund.pk, step="refund.eligibility")
    assert execution.status == ExecutionStatus.DEAD
    assert "after the refund was requested" in execution.last_error
    assert payments.ledger.stats()["requests"] == 0
    assert smtp.received() == []


@pytest.mark.worker
def test_a_real_cluster_takes_a_large_refund_from_request_to_completed(
    live_db, payments, smtp, settings, qcluster
):
    refund = _request_through_the_api(refund_requested_event(amount=2500, days_ago=1))
    cluster = qcluster(
        OPSCORE_PAYMENTS_URL=settings.OPSCORE_PAYMENTS_URL,
        OPSCORE_EMAIL_HOST=settings.EMAIL_HOST,
        OPSCORE_EMAIL_PORT=str(settings.EMAIL_PORT),
    )
    assert wait_until(lambda: _state(refund) == RefundState.AWAITING_APPROVAL, timeout=60), (
        cluster.log()
    )

    approve_task(
        task=selectors.active_task_for(instance=refund), actor=Actor.for_user(_approver("rosa"))
    )

    assert wait_until(lambda: _state(refund) == RefundState.COMPLETED, timeout=60), cluster.log()
    assert list(payments.ledger.requests_by_key) == [f"refund:{refund.pk}:refund.payment:v2"]
    assert [mail["X-Envelope-To"] for mail in smtp.received()] == ["ada@example.test"]
