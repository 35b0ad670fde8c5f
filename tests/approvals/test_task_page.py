"""A review task's own page decides it: one click to approve, a reason to reject, as the real
roles would (reviewer, supervisor, the requester, view-only staff); each refusal changes
nothing, and every link the page shows opens for the person who sees it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from approvals import selectors
from approvals.models import ReviewTask, TaskStatus
from approvals.services import approve_task, claim_task, sweep_review_deadlines
from audit.models import Event
from opscore.actors import Actor
from processes.orders.models import OrderState
from tests.factories import order_in_review, reviewer, start_invoice, user_with_perms
from tests.workflows.drain import drain_executions

pytestmark = pytest.mark.django_db

BUTTONS = ("task-approve", "task-reject", "task-request-info")


def _task_page(client, task: ReviewTask, queue: str = "teamtask") -> str:
    response = client.get(reverse(f"admin:approvals_{queue}_change", args=[task.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _post(client, task: ReviewTask, decision: str, text: str = "", queue: str = "teamtask"):
    return client.post(
        reverse(f"admin:approvals_{queue}_work", args=[task.pk]),
        {"decision": decision, "text": text},
        follow=True,
    )


def _unchanged(task: ReviewTask, order, events_before: int) -> None:
    task.refresh_from_db()
    order.refresh_from_db()
    assert task.status == TaskStatus.OPEN
    assert task.decided_by is None
    assert order.state == OrderState.IN_REVIEW
    assert Event.objects.count() == events_before


def _messages(response) -> str:
    return " ".join(str(message) for message in response.context["messages"])


@pytest.fixture
def waiting():
    requester = user_with_perms("processes.view_order", username="rick")
    order = order_in_review(actor=Actor.for_user(requester), value=2400)
    return order, selectors.active_task_for(instance=order)


def test_a_reviewer_approves_with_one_click_and_sees_where_the_order_went(waiting):
    order, task = waiting
    rita = reviewer("rita", perms=("processes.view_order",))
    client = Client(enforce_csrf_checks=True)
    client.force_login(rita)
    page = _task_page(client, task)
    for button in (*BUTTONS, "task-claim"):
        assert f'id="{button}"' in page
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    response = client.post(
        reverse("admin:approvals_teamtask_work", args=[task.pk]),
        {"decision": "approve", "csrfmiddlewaretoken": token},
        follow=True,
    )

    assert response.status_code == 200
    order.refresh_from_db()
    task.refresh_from_db()
    assert order.state == OrderState.DISPATCHING
    assert (task.status, task.decided_by) == (TaskStatus.APPROVED, rita)
    said = _messages(response)
    assert f"{order} approved; now Dispatching: dispatch.execute is scheduled." in re.sub(
        "<[^>]+>", "", said
    )
    assert reverse("admin:processes_order_change", args=[order.pk]) in said
    page = response.content.decode()
    assert "approved (approve) by rita" in page.lower()
    assert 'id="task-approve"' not in page  # decided: nothing left to press


def test_a_decision_without_the_csrf_token_is_refused(waiting):
    order, task = waiting
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer("rita"))
    events = Event.objects.count()
    response = client.post(
        reverse("admin:approvals_teamtask_work", args=[task.pk]), {"decision": "approve"}
    )
    assert response.status_code == 403
    _unchanged(task, order, events)


def test_the_decision_url_only_takes_posts(client, waiting):
    _, task = waiting
    client.force_login(reviewer("rita"))
    assert client.get(reverse("admin:approvals_teamtask_work", args=[task.pk])).status_code == 405


def test_rejecting_without_a_reason_is_refused_and_changes_nothing(client, waiting):
    order, task = waiting
    client.force_login(reviewer("rita"))
    events = Event.objects.count()

    response = _post(client, task, "reject", text="   ")

    assert "A reason is required to reject: nothing was changed." in _messages(response)
    assert response.redirect_chain[-1][0] == reverse(
        "admin:approvals_teamtask_change", args=[task.pk]
    )
    _unchanged(task, order, events)

    response = _post(client, task, "reject", text="address does not exist")
    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    assert f"{order} rejected; now Cancelled (finished)." in _messages(response)


def test_requesting_information_keeps_the_task_open(client, waiting):
    order, task = waiting
    client.force_login(reviewer("rita"))
    events = Event.objects.count()
    response = _post(client, task, "request_info")
    assert "Say what information is needed: nothing was changed." in _messages(response)
    _unchanged(task, order, events)

    response = _post(client, task, "request_info", text="Which floor?")
    task.refresh_from_db()
    assert task.information_requested == "Which floor?"
    assert task.status == TaskStatus.OPEN
    assert "Information requested on" in _messages(response)


def test_the_requester_sees_the_four_eyes_rule_instead_of_buttons(client, waiting):
    order, task = waiting
    rick = order.started_by
    rick.groups.add(*reviewer("rita").groups.all())
    rick.user_permissions.add(*reviewer("rita").user_permissions.all())
    client.force_login(rick)
    events = Event.objects.count()

    page = _task_page(client, task)
    assert f"You started {order}: someone else must decide it (four-eyes rule)." in page
    for button in BUTTONS:
        assert f'id="{button}"' not in page

    response = _post(client, task, "approve")
    assert (
        f"Rick started {order} and cannot approve its review (four-eyes rule): "
        "nothing was changed." in _messages(response)
    )
    _unchanged(task, order, events)


def test_a_supervisor_who_may_read_but_not_decide_sees_no_buttons(client, waiting):
    order, task = waiting
    sue = user_with_perms("approvals.work_reviewtask", username="sue", group="supervisors")
    with time_machine.travel(task.due_at + timedelta(seconds=1), tick=False):
        sweep_review_deadlines()
    task.refresh_from_db()
    order.refresh_from_db()
    client.force_login(sue)
    events = Event.objects.count()

    page = _task_page(client, task, queue="escalatedtask")
    assert "You may read this task but not decide &#x27;manual.review&#x27;." in page
    for button in (*BUTTONS, "task-claim"):
        assert f'id="{button}"' not in page

    response = _post(client, task, "approve", queue="escalatedtask")
    assert "nothing was changed" in _messages(response)
    task.refresh_from_db()
    order.refresh_from_db()
    assert (task.status, order.state) == (TaskStatus.OPEN, OrderState.IN_REVIEW)
    assert Event.objects.count() == events


def test_a_supervisor_who_may_decide_approves_an_escalated_task(client, waiting):
    order, task = waiting
    boss = user_with_perms(
        "approvals.work_reviewtask", "processes.review_order", username="boss", group="supervisors"
    )
    with time_machine.travel(task.due_at + timedelta(seconds=1), tick=False):
        sweep_review_deadlines()
    client.force_login(boss)
    assert 'id="task-approve"' in _task_page(client, task, queue="escalatedtask")
    _post(client, task, "approve", queue="escalatedtask")
    order.refresh_from_db()
    assert order.state == OrderState.DISPATCHING


def test_view_only_staff_have_no_task_page_to_press_anything_on(client, waiting):
    order, task = waiting
    viewer = user_with_perms("processes.view_order", username="vic")
    client.force_login(viewer)
    events = Event.objects.count()
    assert client.get(reverse("admin:approvals_reviewtask_change", args=[task.pk])).status_code == (
        403
    )
    response = client.post(
        reverse("admin:approvals_reviewtask_work", args=[task.pk]), {"decision": "approve"}
    )
    assert response.status_code == 403
    _unchanged(task, order, events)


def test_a_task_claimed_by_a_colleague_shows_who_holds_it(client, waiting):
    _, task = waiting
    claim_task(task=task, actor=Actor.for_user(reviewer("rita")))
    client.force_login(reviewer("ron"))
    page = _task_page(client, task)
    assert "Claimed by rita: they decide it unless it is released." in page
    assert 'id="task-approve"' not in page


def test_the_second_invoice_level_offers_no_approval_to_the_first_approver(client):
    both = reviewer(
        "bea",
        group="managers",
        perms=("processes.approve_invoice", "processes.finance_approve_invoice"),
    )
    both.groups.add(Group.objects.get_or_create(name="finance")[0])
    invoice = start_invoice(amount=25_000)
    drain_executions()
    approve_task(task=selectors.active_task_for(instance=invoice), actor=Actor.for_user(both))
    second = selectors.active_task_for(instance=invoice)
    assert second.step == "finance.approval"
    client.force_login(both)
    events = Event.objects.count()

    page = _task_page(client, second)
    assert "another person approves this level (four-eyes rule)" in page
    assert 'id="task-approve"' not in page
    assert 'id="task-reject"' in page

    response = _post(client, second, "approve")
    assert "each approval level needs a different person" in _messages(response)
    second.refresh_from_db()
    assert second.status == TaskStatus.OPEN
    assert Event.objects.count() == events


def test_every_link_on_a_reviewers_task_page_opens(client, waiting):
    _, task = waiting
    rita = reviewer("rita")  # no view permission on orders, groups or decision records
    client.force_login(rita)
    page = _task_page(client, task)
    links = set(re.findall(r'href="(/admin/[^"#]*)"', page))
    assert links
    assert reverse("admin:processes_order_change", args=[task.instance_id]) not in links
    for link in links:
        if "/logout/" in link:
            continue
        assert client.get(link).status_code in (200, 302), link


def test_a_decided_task_shows_no_decision_panel(client, waiting):
    _, task = waiting
    rita = reviewer("rita")
    approve_task(task=task, actor=Actor.for_user(rita))
    client.force_login(rita)
    page = _task_page(client, task, queue="reviewtask")
    assert 'id="task-actions"' not in page
    assert "Approved (approve) by rita at " in page


def test_a_reviewer_hands_a_task_to_a_colleague_who_may_decide_it(client, waiting):
    order, task = waiting
    rita, ron = reviewer("rita"), reviewer("ron")
    user_with_perms(username="carl", group="reviewers")  # in the queue, cannot decide
    client.force_login(rita)
    page = _task_page(client, task)
    assert '<option value="ron">ron</option>' in page
    assert '<option value="carl">' not in page
    assert '<option value="rick">' not in page  # the requester

    response = client.post(
        reverse("admin:approvals_teamtask_work", args=[task.pk]),
        {"decision": "reassign", "assignee": "nobody"},
        follow=True,
    )
    assert "No active user 'nobody' to hand it to: nothing was changed." in _messages(response)
    task.refresh_from_db()
    assert task.assignee is None

    response = client.post(
        reverse("admin:approvals_teamtask_work", args=[task.pk]),
        {"decision": "reassign", "assignee": "ron"},
        follow=True,
    )
    task.refresh_from_db()
    assert (task.status, task.assignee) == (TaskStatus.CLAIMED, ron)
    assert f"manual.review of {order} handed to ron." in re.sub("<[^>]+>", "", _messages(response))
