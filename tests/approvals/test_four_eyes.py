"""Four-eyes: whoever started an instance never decides it, and two approval levels need two
different people, whichever way the decision comes in."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from approvals import selectors
from approvals.models import TaskStatus
from approvals.services import (
    SelfApprovalRefused,
    approve_review,
    approve_task,
    claim_task,
    reject_task,
)
from opscore.actors import Actor
from processes.orders.models import OrderState
from tests.factories import order_in_review, reviewer

pytestmark = pytest.mark.django_db


@pytest.fixture
def requester():
    # A reviewer in the right queue with every permission: only four-eyes stands in the way.
    return reviewer("rita")


@pytest.fixture
def own_order(requester):
    return order_in_review(actor=Actor.for_user(requester))


def _assert_untouched(order) -> None:
    order.refresh_from_db()
    assert order.state == OrderState.IN_REVIEW
    task = selectors.active_task_for(instance=order)
    assert (task.status, task.decided_by) == (TaskStatus.OPEN, None)


def test_self_approval_is_refused_by_the_services(requester, own_order):
    actor = Actor.for_user(requester)
    task = selectors.active_task_for(instance=own_order)
    with pytest.raises(SelfApprovalRefused, match="four-eyes"):
        approve_task(task=task, actor=actor)
    with pytest.raises(SelfApprovalRefused):
        approve_review(instance=own_order, actor=actor)
    with pytest.raises(SelfApprovalRefused):
        reject_task(task=task, actor=actor, reason="changed my mind")
    with pytest.raises(SelfApprovalRefused):
        claim_task(task=task, actor=actor)
    _assert_untouched(own_order)


def test_self_approval_is_refused_for_a_superuser_too(own_order):
    from django.contrib.auth.models import User

    boss = User.objects.create_superuser("boss", "boss@example.test", "pw-boss-123456")
    order = order_in_review(actor=Actor.for_user(boss))
    with pytest.raises(SelfApprovalRefused):
        approve_task(task=selectors.active_task_for(instance=order), actor=Actor.for_user(boss))


@pytest.mark.parametrize("queue", ["teamtask", "unassignedtask", "reviewtask"])
def test_self_approval_is_refused_by_the_admin_action(client, requester, own_order, queue):
    client.force_login(requester)
    task = selectors.active_task_for(instance=own_order)
    response = client.post(
        reverse(f"admin:approvals_{queue}_changelist"),
        {"action": "approve", "_selected_action": [task.pk], "text": ""},
        follow=True,
    )
    page = response.content.decode()
    assert "cannot approve its review (four-eyes rule)" in page
    assert "Approved 1 task" not in page
    _assert_untouched(own_order)


def test_self_approval_is_refused_by_the_api(client, requester, own_order):
    client.force_login(requester)
    task = selectors.active_task_for(instance=own_order)
    response = client.post(f"/api/v1/tasks/{task.pk}/approve", {}, content_type="application/json")
    assert response.status_code == 403
    assert "four-eyes" in str(response.json())
    _assert_untouched(own_order)


def test_self_approval_is_refused_by_the_command(requester, own_order, monkeypatch):
    # The requester runs the command as themselves: four-eyes, not break-glass, refuses it.
    monkeypatch.setattr("getpass.getuser", lambda: requester.username)
    task = selectors.active_task_for(instance=own_order)
    with pytest.raises(CommandError, match="four-eyes"):
        call_command("review_task", task.pk, "approve", "--as", requester.username)
    _assert_untouched(own_order)


def test_another_reviewer_may_approve_what_the_requester_could_not(requester, own_order):
    tom = reviewer("tom")
    approve_task(task=selectors.active_task_for(instance=own_order), actor=Actor.for_user(tom))
    own_order.refresh_from_db()
    assert own_order.state == OrderState.DISPATCHING
