"""Working review tasks: claim, release, reassign, approve, reject, request information."""

import pytest

from approvals import selectors
from approvals.models import ReviewTask, TaskStatus
from approvals.services import (
    NotInQueue,
    ReasonRequired,
    TaskConflict,
    approve_task,
    claim_task,
    reassign_task,
    reject_task,
    release_task,
    request_information,
)
from audit.models import Event
from audit.selectors import instance_timeline
from opscore.actors import SYSTEM, Actor
from processes.orders.models import OrderState
from tests.factories import order_in_review, reviewer, start_order, user_with_perms
from tests.workflows.drain import drain_executions
from workflows import engine

pytestmark = pytest.mark.django_db


def _task(order) -> ReviewTask:
    return selectors.active_task_for(instance=order)


def _task_events(order) -> list[tuple[str, str]]:
    return [
        (event.type, event.actor_ref)
        for event in instance_timeline(instance=order)
        if event.type.startswith("task.")
    ]


def test_entering_review_opens_one_task_in_the_steps_queue_recorded_in_the_log():
    order = order_in_review()
    task = ReviewTask.objects.get(instance_id=order.pk)
    assert (task.step, task.queue.name, task.status) == ("manual.review", "reviewers", "open")
    assert task.instance_version == order.version
    assert task.title == str(order)
    assert _task_events(order) == [("task.opened", "system")]


def test_claim_then_approve_moves_the_order_on_and_records_every_change():
    rita = reviewer("rita")
    order = order_in_review()
    task = claim_task(task=_task(order), actor=Actor.for_user(rita))
    assert (task.status, task.assignee) == (TaskStatus.CLAIMED, rita)

    task = approve_task(task=task, actor=Actor.for_user(rita), comment="checked the customer")
    order.refresh_from_db()
    assert order.state == OrderState.DISPATCHING
    assert (task.status, task.decided_by, task.outcome) == (TaskStatus.APPROVED, rita, "approve")
    assert _task_events(order) == [
        ("task.opened", "system"),
        ("task.claimed", "rita"),
        ("task.approved", "rita"),
    ]
    transition = Event.objects.filter(type="workflow.transition", instance_id=order.pk).last()
    assert transition.payload["data"]["task"] == task.pk


def test_reject_needs_a_reason_and_cancels_the_order():
    rita = reviewer("rita")
    order = order_in_review()
    with pytest.raises(ReasonRequired):
        reject_task(task=_task(order), actor=Actor.for_user(rita), reason="   ")
    assert _task(order).status == TaskStatus.OPEN

    task = reject_task(task=_task(order), actor=Actor.for_user(rita), reason="fraud pattern")
    order.refresh_from_db()
    assert (task.status, task.reason) == (TaskStatus.REJECTED, "fraud pattern")
    assert order.state == OrderState.CANCELLED


def test_a_task_claimed_by_someone_else_cannot_be_claimed_or_decided():
    rita, tom = reviewer("rita"), reviewer("tom")
    order = order_in_review()
    claim_task(task=_task(order), actor=Actor.for_user(rita))
    with pytest.raises(TaskConflict, match="already claimed by rita"):
        claim_task(task=_task(order), actor=Actor.for_user(tom))
    with pytest.raises(TaskConflict, match="claimed by rita"):
        approve_task(task=_task(order), actor=Actor.for_user(tom))
    order.refresh_from_db()
    assert order.state == OrderState.IN_REVIEW


def test_a_decided_task_refuses_a_second_decision_with_a_conflict():
    rita, tom = reviewer("rita"), reviewer("tom")
    order = order_in_review()
    stale = _task(order)
    approve_task(task=stale, actor=Actor.for_user(rita))
    events = Event.objects.count()
    with pytest.raises(TaskConflict, match="already approved by rita"):
        approve_task(task=stale, actor=Actor.for_user(tom))
    with pytest.raises(TaskConflict):
        reject_task(task=stale, actor=Actor.for_user(tom), reason="too late")
    assert Event.objects.count() == events


def test_release_returns_the_task_to_the_queue_and_only_the_holder_or_a_supervisor_may():
    rita, tom = reviewer("rita"), reviewer("tom")
    sue = user_with_perms("approvals.work_reviewtask", username="sue", group="supervisors")
    order = order_in_review()
    claim_task(task=_task(order), actor=Actor.for_user(rita))
    with pytest.raises(TaskConflict, match="only they or a supervisor"):
        release_task(task=_task(order), actor=Actor.for_user(tom))
    task = release_task(task=_task(order), actor=Actor.for_user(sue))
    assert (task.status, task.assignee) == (TaskStatus.OPEN, None)


def test_reassign_hands_the_task_to_another_queue_member_only():
    rita, tom = reviewer("rita"), reviewer("tom")
    outsider = user_with_perms("processes.review_order", username="olga", group="finance")
    order = order_in_review()
    claim_task(task=_task(order), actor=Actor.for_user(rita))
    with pytest.raises(NotInQueue):
        reassign_task(task=_task(order), actor=Actor.for_user(rita), assignee=outsider)
    task = reassign_task(task=_task(order), actor=Actor.for_user(rita), assignee=tom)
    assert task.assignee == tom
    approve_task(task=task, actor=Actor.for_user(tom))


def test_people_outside_the_queue_cannot_work_its_tasks():
    outsider = user_with_perms("processes.review_order", username="olga", group="finance")
    order = order_in_review()
    with pytest.raises(NotInQueue, match="not in the 'reviewers' queue"):
        claim_task(task=_task(order), actor=Actor.for_user(outsider))
    with pytest.raises(NotInQueue):
        approve_task(task=_task(order), actor=Actor.for_user(outsider))


def test_the_transition_permission_is_still_required():
    no_permission = user_with_perms(username="nick", group="reviewers")
    order = order_in_review()
    with pytest.raises(engine.TransitionNotPermitted):
        approve_task(task=_task(order), actor=Actor.for_user(no_permission))
    assert _task(order).status == TaskStatus.OPEN


def test_request_information_is_kept_on_the_task_and_in_the_log():
    rita = reviewer("rita")
    # Someone to ask: the person who started the order (tests/approvals/test_information_requests).
    order = order_in_review(actor=Actor.for_user(user_with_perms(username="ada")))
    task = request_information(
        task=_task(order), actor=Actor.for_user(rita), message="Which warehouse?"
    )
    assert task.information_requested == "Which warehouse?"
    assert task.status == TaskStatus.OPEN
    assert _task_events(order)[-1] == ("task.information_requested", "rita")


def test_the_system_cannot_decide_a_review():
    order = order_in_review()
    with pytest.raises(engine.WorkflowError, match="not a person"):
        approve_task(task=_task(order), actor=SYSTEM)


def test_a_policy_flagged_order_shows_the_decision_that_sent_it_to_review():
    order = start_order(value=5000)
    drain_executions()
    task = _task(order)
    record = selectors.routing_decision(task=task)
    assert (record.rule_set.slug, record.primary_rule_id) == ("order-policy", "high-value")


def test_a_carrier_chosen_on_approval_ships_and_counts_as_an_override(carrier):
    from decisions.models import Override

    rita = reviewer("rita")
    order = start_order(value=5000, weight_kg=2, postcode="AB1 2CD")
    drain_executions()
    approve_task(
        task=_task(order),
        actor=Actor.for_user(rita),
        comment="island delivery",
        context_update={
            "carrier_choice": {"carrier": "southexpress", "by": "rita", "reason": "island"}
        },
    )
    drain_executions()
    order.refresh_from_db()
    assert order.context["shipment"]["carrier"] == "southexpress"
    override = Override.objects.get()
    assert (override.rule_id, override.actor_ref) == ("north", "user:rita")
