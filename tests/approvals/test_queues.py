"""Who sees which tasks: queues per group, escalations for supervisors, in admin and API;
and a queue page costs the same number of queries however many tasks it lists."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from approvals import selectors
from approvals.services import claim_task, sweep_review_deadlines
from opscore.actors import SYSTEM, Actor
from tests.factories import order_in_review, reviewer, start_invoice, user_with_perms
from workflows import engine

pytestmark = pytest.mark.django_db


def invoice_for_manager():
    invoice = start_invoice(amount=4000)
    return engine.transition(instance=invoice, name="request_manager_approval", actor=SYSTEM)


@pytest.fixture
def people():
    return {
        "rita": reviewer("rita"),
        "mia": reviewer("mia", group="managers", perms=("processes.approve_invoice",)),
        "sue": user_with_perms("approvals.work_reviewtask", username="sue", group="supervisors"),
    }


@pytest.fixture
def work():
    order = order_in_review()
    invoice = invoice_for_manager()
    return {
        "order": selectors.active_task_for(instance=order),
        "invoice": selectors.active_task_for(instance=invoice),
    }


def _ids(queryset) -> set[int]:
    return set(queryset.values_list("pk", flat=True))


def test_each_group_sees_only_its_own_queue(people, work):
    order, invoice = work["order"].pk, work["invoice"].pk
    assert _ids(selectors.team_queue(user=people["rita"])) == {order}
    assert _ids(selectors.team_queue(user=people["mia"])) == {invoice}
    assert _ids(selectors.unassigned_tasks(user=people["rita"])) == {order}
    assert _ids(selectors.visible_tasks(user=people["sue"])) == set()
    assert _ids(selectors.my_tasks(user=people["rita"])) == set()

    claim_task(task=work["order"], actor=Actor.for_user(people["rita"]))
    assert _ids(selectors.my_tasks(user=people["rita"])) == {order}
    assert _ids(selectors.unassigned_tasks(user=people["rita"])) == set()
    assert _ids(selectors.my_tasks(user=people["mia"])) == set()


def test_supervisors_see_escalations_and_only_those(people, work):
    due = work["order"].due_at
    with time_machine.travel(due + timedelta(seconds=1), tick=False):
        sweep_review_deadlines()
        assert _ids(selectors.overdue_tasks(user=people["rita"])) == {work["order"].pk}
    sue = people["sue"]
    # The invoice task fell due too but escalates later (office hours); only the order did.
    assert _ids(selectors.escalated_tasks(user=sue)) == {work["order"].pk}
    assert _ids(selectors.visible_tasks(user=sue)) == {work["order"].pk}
    assert _ids(selectors.team_queue(user=sue)) == set()
    assert _ids(selectors.escalated_tasks(user=people["rita"])) == {work["order"].pk}
    assert _ids(selectors.escalated_tasks(user=people["mia"])) == set()


def test_admin_queues_list_only_the_groups_tasks(client, people, work):
    client.force_login(people["rita"])
    page = client.get(reverse("admin:approvals_teamtask_changelist")).content.decode()
    assert work["order"].title in page
    assert work["invoice"].title not in page

    hidden = client.get(reverse("admin:approvals_reviewtask_change", args=[work["invoice"].pk]))
    assert hidden.status_code == 302  # admin's "does not exist" redirect, not the page

    client.force_login(people["mia"])
    page = client.get(reverse("admin:approvals_teamtask_changelist")).content.decode()
    assert work["invoice"].title in page
    assert work["order"].title not in page


def test_people_who_do_not_work_queues_have_no_queue_pages(client, work):
    clerk = user_with_perms(username="carl", group="reviewers")  # in the group, no permission
    client.force_login(clerk)
    assert client.get(reverse("admin:approvals_mytask_changelist")).status_code == 403


def test_the_api_lists_the_callers_queues_only(client, people, work):
    client.force_login(people["mia"])
    team = client.get("/api/v1/tasks/?queue=team").json()
    assert [t["id"] for t in team] == [work["invoice"].pk]
    assert client.get("/api/v1/tasks/").json() == []
    assert client.post(f"/api/v1/tasks/{work['order'].pk}/claim").status_code == 404


def test_the_task_page_shows_context_decision_and_timeline(client, people, carrier):
    from tests.factories import start_order
    from tests.workflows.drain import drain_executions

    order = start_order(value=5000)
    drain_executions()
    task = selectors.active_task_for(instance=order)
    client.force_login(people["rita"])
    page = client.get(reverse("admin:approvals_mytask_change", args=[task.pk]))
    assert page.status_code == 302  # not hers yet: "My tasks" holds only claimed ones
    page = client.get(reverse("admin:approvals_teamtask_change", args=[task.pk])).content.decode()
    assert "order-policy v1" in page
    assert "high-value" in page
    assert "High value" in page
    assert "&quot;value&quot;: 5000" in page
    assert "task.opened" in page
    assert "received &rarr; in_review (flag_for_review)" in page


def _queue_page_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:approvals_teamtask_changelist"))
    assert response.status_code == 200
    return len(queries)


def test_a_queue_page_costs_a_fixed_number_of_queries(client, people):
    client.force_login(people["rita"])
    order_in_review()
    few = _queue_page_queries(client)
    for _ in range(20):
        task = selectors.active_task_for(instance=order_in_review())
        claim_task(task=task, actor=Actor.for_user(people["rita"]))
    many = _queue_page_queries(client)
    assert few == many
    assert 5 <= many <= 12


def test_the_admin_claims_and_approves_with_messages(client, people, work):
    client.force_login(people["rita"])
    url = reverse("admin:approvals_unassignedtask_changelist")
    task = work["order"]
    page = client.post(
        url, {"action": "claim", "_selected_action": [task.pk]}, follow=True
    ).content.decode()
    assert "Claimed 1 task(s)." in page
    url = reverse("admin:approvals_mytask_changelist")
    page = client.post(
        url, {"action": "reject", "_selected_action": [task.pk], "text": ""}, follow=True
    ).content.decode()
    assert "A reason is required to reject." in page
    page = client.post(
        url, {"action": "approve", "_selected_action": [task.pk], "text": "ok"}, follow=True
    ).content.decode()
    assert "Approved 1 task(s)." in page
    task.refresh_from_db()
    assert task.status == "approved"
    assert task.decided_at <= timezone.now()


def test_a_long_queue_is_counted_only_up_to_the_cap(client, people, monkeypatch):
    from approvals.admin import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "cap", 3)
    for _ in range(5):
        order_in_review()
    client.force_login(people["rita"])
    page = client.get(reverse("admin:approvals_teamtask_changelist")).content.decode()
    assert "more than 3 my team&#x27;s queue" in page
    assert page.count("order ") >= 5
