"""Escalation hand-off that never strands a task: earlier levels keep sight, every level can
decide, and a holder who cannot decide never blocks the people who can."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from approvals import selectors
from approvals.models import EscalationPolicy, ReviewTask, TaskStatus
from approvals.services import (
    TaskError,
    approve_task,
    claim_task,
    reassign_task,
    release_task,
    sweep_review_deadlines,
)
from audit.models import Event
from opscore.actors import Actor
from processes.orders.models import OrderState
from tests.factories import order_in_review, reviewer, user_with_perms

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


def _grant(group_name: str, *dotted: str) -> Group:
    group = Group.objects.get_or_create(name=group_name)[0]
    for name in dotted:
        app_label, codename = name.split(".")
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return group


def _escalated_twice():
    """An order review escalated to supervisors, then to heads (level 2)."""
    policy = EscalationPolicy.objects.get(workflow="order", step="manual.review")
    _grant("heads")
    policy.reminder_before = None
    policy.further_levels = [{"after_minutes": 60, "escalate_to": "heads"}]
    policy.save()
    with time_machine.travel(START, tick=False):
        order = order_in_review()
    task = selectors.active_task_for(instance=order)
    for moment in (task.due_at + timedelta(seconds=1), task.due_at + timedelta(minutes=61)):
        with time_machine.travel(moment, tick=False):
            sweep_review_deadlines()
    task.refresh_from_db()
    assert (task.escalation_level, task.escalated_to.name) == (2, "heads")
    return order, task


def test_the_level_one_group_keeps_sight_of_the_task_at_level_two(smtp):
    sue = reviewer("sue", group="supervisors")
    order, task = _escalated_twice()

    assert task in selectors.visible_tasks(user=sue)
    assert task in selectors.escalated_tasks(user=sue)
    client = Client()
    client.force_login(sue)
    api = client.get("/api/v1/tasks/", {"queue": "escalated"})
    assert api.status_code == 200
    assert [row["id"] for row in api.json()] == [task.pk]
    assert client.get(f"/api/v1/tasks/{task.pk}").status_code == 200
    page = client.get(reverse("admin:approvals_escalatedtask_changelist"))
    assert task.title.encode() in page.content

    approve_task(task=task, actor=Actor.for_user(sue))
    order.refresh_from_db()
    assert order.state == OrderState.DISPATCHING


def test_a_group_outside_every_level_still_does_not_see_it(smtp):
    outsider = reviewer("otto", group="other-team")
    _, task = _escalated_twice()
    assert task not in selectors.visible_tasks(user=outsider)


def test_a_policy_escalating_to_a_group_that_cannot_decide_is_refused():
    policy = EscalationPolicy.objects.get(workflow="order", step="manual.review")
    idle = _grant("idlers", "approvals.work_reviewtask")  # may work tasks, not review orders
    policy.escalate_to = idle
    with pytest.raises(ValidationError, match="review_order"):
        policy.full_clean()

    deciders = _grant("deciders", "approvals.work_reviewtask", "processes.review_order")
    policy.escalate_to = deciders
    policy.full_clean()
    policy.further_levels = [{"after_minutes": 30, "escalate_to": "idlers"}]
    with pytest.raises(ValidationError, match="idlers"):
        policy.full_clean()


def test_the_policy_admin_form_refuses_a_group_that_cannot_decide():
    editor = user_with_perms(
        "approvals.view_escalationpolicy", "approvals.change_escalationpolicy", username="ed"
    )
    client = Client()
    client.force_login(editor)
    policy = EscalationPolicy.objects.get(workflow="order", step="manual.review")
    history = policy.history.count()
    before = EscalationPolicy.objects.filter(pk=policy.pk).values().get()
    idle = _grant("idlers", "approvals.work_reviewtask")

    response = client.post(
        reverse("admin:approvals_escalationpolicy_change", args=[policy.pk]),
        {
            "workflow": "order",
            "step": "manual.review",
            "sla": "02:00:00",
            "business_hours": "null",
            "reminder_before": "00:30:00",
            "escalate_to": str(idle.pk),
            "further_levels": "[]",
            "expire_after": "",
        },
    )

    assert response.status_code == 200  # the form again, with the error
    assert b"cannot decide" in response.content
    assert EscalationPolicy.objects.filter(pk=policy.pk).values().get() == before
    assert policy.history.count() == history


def test_someone_who_cannot_decide_cannot_claim():
    order = order_in_review()
    task = selectors.active_task_for(instance=order)
    watcher = user_with_perms("approvals.work_reviewtask", username="wes", group="reviewers")
    events = Event.objects.count()

    with pytest.raises(TaskError, match="may not decide"):
        claim_task(task=task, actor=Actor.for_user(watcher))
    with pytest.raises(TaskError, match="may not decide"):
        reassign_task(task=task, actor=Actor.for_user(reviewer("rob")), assignee=watcher)

    task.refresh_from_db()
    assert (task.status, task.assignee_id) == (TaskStatus.OPEN, None)
    assert Event.objects.count() == events


def _stranded_claim():
    """A claim held by someone who lost the permission to decide since claiming."""
    order = order_in_review()
    task = selectors.active_task_for(instance=order)
    holder = reviewer("hal")
    claim_task(task=task, actor=Actor.for_user(holder))
    holder.user_permissions.remove(
        Permission.objects.get(content_type__app_label="processes", codename="review_order")
    )
    return order, ReviewTask.objects.get(pk=task.pk)


def test_a_reviewer_decides_a_task_held_by_someone_who_cannot():
    order, task = _stranded_claim()
    rob = reviewer("rob")
    approve_task(task=task, actor=Actor.for_user(rob))
    task.refresh_from_db()
    order.refresh_from_db()
    assert (task.status, task.decided_by, task.assignee) == (TaskStatus.APPROVED, rob, rob)
    assert order.state == OrderState.DISPATCHING


def test_a_reviewer_releases_a_task_held_by_someone_who_cannot_decide():
    _, task = _stranded_claim()
    release_task(task=task, actor=Actor.for_user(reviewer("rob")))
    task.refresh_from_db()
    assert (task.status, task.assignee_id) == (TaskStatus.OPEN, None)


def test_a_claim_by_someone_who_can_decide_still_blocks_others():
    order = order_in_review()
    task = selectors.active_task_for(instance=order)
    claim_task(task=task, actor=Actor.for_user(reviewer("hal")))
    before = order.version
    with pytest.raises(TaskError, match="claimed by hal"):
        approve_task(task=task, actor=Actor.for_user(reviewer("rob")))
    with pytest.raises(TaskError, match="claimed by hal"):
        release_task(task=task, actor=Actor.for_user(reviewer("rob")))
    order.refresh_from_db()
    assert order.version == before


def test_an_outsider_cannot_release_a_stranded_claim():
    _, task = _stranded_claim()
    outsider = user_with_perms(
        "approvals.work_reviewtask", "processes.review_order", username="oz", group="elsewhere"
    )
    with pytest.raises(TaskError):
        release_task(task=task, actor=Actor.for_user(outsider))
    task.refresh_from_db()
    assert task.status == TaskStatus.CLAIMED


def test_a_holder_who_can_no_longer_decide_may_still_let_go():
    _, task = _stranded_claim()
    release_task(task=task, actor=Actor.for_user(task.assignee))
    task.refresh_from_db()
    assert (task.status, task.assignee_id) == (TaskStatus.OPEN, None)
