"""The admin start page per role: supervisors see their team's queues before anything
breaches, operators see dead letters, open alerts and stuck instances, everyone sees the
throughput and SLA charts; nobody sees figures or links they may not open; and the page's
query count does not grow with the data."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from approvals.models import ReviewTask
from observability.models import Alert, AlertKind, AlertRule
from processes.orders.models import Order
from tests.factories import order_in_review, reviewer, start_order, user_with_perms
from workflows.models import Execution
from workflows.models.execution import ExecutionStatus

pytestmark = pytest.mark.django_db

INDEX = "/admin/"


def supervisor():
    # The reference policy escalates order reviews to supervisors: their team's queue.
    return user_with_perms(
        "approvals.work_reviewtask",
        "processes.review_order",
        "processes.view_order",
        username="sue",
        group="supervisors",
    )


def operator():
    return user_with_perms(
        "workflows.view_execution",
        "processes.view_order",
        "observability.view_alert",
        "observability.view_alertrule",
        username="otto",
    )


def dead_letter(order: Order, *, step: str = "dispatch.execute") -> Execution:
    return Execution.objects.create(
        instance_type=ContentType.objects.get_for_model(Order),
        instance_id=order.pk,
        instance_version=order.version,
        step=step,
        idempotency_key=f"order:{order.pk}:{step}:v{order.version}:test-dead",
        status=ExecutionStatus.DEAD,
        attempts=6,
        max_attempts=6,
        last_error="carrier refused with 422",
    )


def open_alert(name: str = "dead letters present") -> Alert:
    rule = AlertRule.objects.create(name=name, kind=AlertKind.DEAD_LETTERS)
    return Alert.objects.create(rule=rule, opened_at=timezone.now(), detail={"count": 1})


def _page(client, user) -> str:
    client.force_login(user)
    response = client.get(INDEX)
    assert response.status_code == 200
    return response.content.decode()


def _hrefs(html: str, block: str) -> list[str]:
    section = html.split(f'id="{block}"', 1)[1].split('<div class="module"', 1)[0]
    return [href.replace("&amp;", "&") for href in re.findall(r'href="([^"]+)"', section)]


def test_a_supervisor_sees_the_team_queue_with_counts_and_ages_and_links_that_open(client):
    late = order_in_review()
    ReviewTask.objects.filter(instance_id=late.pk).update(
        due_at=timezone.now() - timedelta(minutes=5),
        opened_at=timezone.now() - timedelta(hours=3),
    )
    order_in_review()
    soon = order_in_review()
    ReviewTask.objects.filter(instance_id=soon.pk).update(
        due_at=timezone.now() + timedelta(minutes=20)
    )
    sue = supervisor()

    html = _page(client, sue)

    row = re.search(r'<tr class="queue-row" data-queue="reviewers".*?</tr>', html, re.S).group()
    assert "reviewers: 3 open" in row
    assert re.search(r'class="due-soon"[^>]*>1<', row)
    assert re.search(r'class="overdue"[^>]*>1<', row)
    assert "3 h 0 min" in row
    assert "(escalates to you)" in row
    assert 'id="overview-operations"' not in html  # no execution or alert permission
    # Every link on the block opens for her, and the queue link lists the three orders.
    for href in _hrefs(html, "overview-queues"):
        assert client.get(href).status_code == 200, href
    queue_link = _hrefs(html, "overview-queues")[0]
    assert "state__exact=in_review" in queue_link
    assert client.get(queue_link).content.decode().count('class="field-correlation_key"') == 3


def test_a_reviewer_sees_their_own_queue_linked_to_the_team_queue(client):
    order_in_review()
    rita = reviewer("rita")

    html = _page(client, rita)

    assert "reviewers: 1 open" in html
    (queue_link, *_) = _hrefs(html, "overview-queues")
    assert queue_link.startswith(reverse("admin:approvals_teamtask_changelist"))
    listed = client.get(queue_link)
    assert listed.status_code == 200
    assert b"1 team task" in listed.content or b"field-title" in listed.content


def test_a_task_waiting_on_the_requester_is_counted_apart_from_the_workable_ones(client, smtp):
    from approvals.services import request_information
    from opscore.actors import Actor

    order_in_review()
    asked = order_in_review(actor=Actor.for_integration("shop"), requester_email="b@shop.example")
    rita = reviewer("rita")
    task = ReviewTask.objects.get(instance_id=asked.pk)
    request_information(task=task, actor=Actor.for_user(rita), message="PO number?")

    html = _page(client, rita)

    row = re.search(r'<tr class="queue-row" data-queue="reviewers".*?</tr>', html, re.S).group()
    assert "reviewers: 1 open" in row
    assert re.search(r'class="with-requester"[^>]*>1<', row)
    (queue_link, *_) = _hrefs(html, "overview-queues")
    # The link lists exactly the workable task the row counts.
    assert client.get(queue_link).content.decode().count('class="field-title"') == 1


def test_an_operator_sees_dead_letters_open_alerts_and_stuck_instances(client):
    dead_letter(start_order())
    open_alert()
    stuck = start_order()  # waits in `received`: no worker runs policy.check in this test
    Order.objects.filter(pk=stuck.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    otto = operator()

    html = _page(client, otto)

    assert 'id="overview-queues"' not in html  # works no queue
    assert "order / dispatch.execute: 1 dead" in html
    assert "dead letters present" in html
    assert "order in received: 1 stuck" in html
    assert "system map" in html
    for href in _hrefs(html, "overview-operations"):
        if "/observability/alert/" in href:
            continue  # the alert admin comes with the alerts slice
        assert client.get(href).status_code == 200, href
    dead_link = next(h for h in _hrefs(html, "overview-operations") if "execution" in h)
    assert b"order:" in client.get(dead_link).content


def test_view_only_staff_see_the_charts_and_no_team_or_operations_data(client):
    order_in_review()
    dead_letter(start_order())
    open_alert()
    viewer = user_with_perms("processes.view_order", username="vera")

    html = _page(client, viewer)

    assert 'id="overview-queues"' not in html
    assert 'id="overview-operations"' not in html
    assert "dead letters present" not in html
    assert "reviewers:" not in html
    assert html.count('class="overview-chart"') == 4
    assert 'id="content-main"' in html  # the app list is still there


def test_the_charts_count_what_the_log_recorded_this_hour(client):
    start_order()
    start_order()
    html = _page(client, user_with_perms(username="anyone"))
    hourly = html.split("Throughput, last 24 hours", 1)[1].split("</svg>", 1)[0]
    started = re.findall(r'data-series="instances started" data-value="(\d+)"', hourly)
    assert len(started) == 24
    assert started[-1] == "2"
    assert sum(map(int, started[:-1])) == 0


def _queries(client, user) -> int:
    client.force_login(user)
    client.get(INDEX)  # warm caches (content types, sessions)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(INDEX).status_code == 200
    return len(captured)


def test_the_page_costs_the_same_number_of_queries_whatever_the_data(client):
    boss = user_with_perms(
        "approvals.work_reviewtask",
        "processes.review_order",
        "processes.view_order",
        "workflows.view_execution",
        "observability.view_alert",
        "observability.view_alertrule",
        username="boss",
        group="supervisors",
    )
    order_in_review()
    dead_letter(start_order())
    open_alert("one")
    small = _queries(client, boss)

    for _ in range(6):
        order_in_review()
        dead_letter(start_order(), step="policy.check")
    for number in range(12):
        open_alert(f"more {number}")
    assert _queries(client, boss) == small


def _daily_started(html: str) -> list[int]:
    daily = html.split("Throughput, last 30 days", 1)[1].split("</svg>", 1)[0]
    return [
        int(v) for v in re.findall(r'data-series="instances started" data-value="(\d+)"', daily)
    ]


def test_ended_days_come_from_the_log_once_and_the_current_day_stays_live(client):
    import time_machine

    with time_machine.travel(timezone.now() - timedelta(days=3)):
        start_order()
    viewer = user_with_perms(username="anyone")

    first = _daily_started(_page(client, viewer))
    start_order()
    second = _daily_started(_page(client, viewer))

    assert len(first) == 30
    assert first[-4] == 1
    assert sum(first) == 1
    assert second[-4] == 1  # the ended day, cached
    assert second[-1] == 1  # today, read again


def test_alert_rule_readers_find_the_system_map_from_the_start_page(client):
    html = _page(client, user_with_perms("observability.view_alertrule", username="ada"))
    assert f'href="{reverse("observability_system_map")}"' in html
    html = _page(client, user_with_perms("processes.view_order", username="vic"))
    assert reverse("observability_system_map") not in html


def _text(html: str, element_id: str) -> str:
    """What the reader sees of an element: its text, tags dropped, spaces collapsed."""
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(p|span)>', html, re.S)
    assert found, f"no #{element_id}"
    text = re.sub(r"<[^>]+>", " ", found.group(1)).replace("&middot;", "·")
    return " ".join(text.split())


def _listed(client, html: str, link_id: str) -> int:
    href = re.search(rf'id="{link_id}" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    return client.get(href).content.decode().count('class="field-title"')


def test_a_reviewer_sees_their_late_escalated_task_counted_alike_in_the_row_and_the_line(client):
    import time_machine

    from approvals.services import sweep_review_deadlines

    late = order_in_review()
    task = ReviewTask.objects.get(instance_id=late.pk)
    rita = reviewer("rita")

    with time_machine.travel(task.due_at + timedelta(minutes=1), tick=True):
        assert sweep_review_deadlines().escalations == 1  # to the supervisors, not to rita
        html = _page(client, rita)

        row = re.search(r'<tr class="queue-row" data-queue="reviewers".*?</tr>', html, re.S)
        assert re.search(r'class="overdue"[^>]*>1<', row.group())
        # The line names what it counts: her queue's task went to the supervisors, not to her.
        assert _text(html, "overview-openable") == (
            "Of the tasks you can open: 1 escalated · 1 overdue"
        )
        assert "escalated to you" not in html
        assert 'id="overdue-not-escalated"' not in html
        assert _listed(client, html, "overdue-link") == 1


def test_a_supervisor_is_told_why_the_team_row_counts_a_late_task_the_line_does_not(client):
    late = order_in_review()
    ReviewTask.objects.filter(instance_id=late.pk).update(
        due_at=timezone.now() - timedelta(minutes=5)  # the sweeper has not escalated it yet
    )
    sue = supervisor()

    html = _page(client, sue)

    row = re.search(r'<tr class="queue-row" data-queue="reviewers".*?</tr>', html, re.S)
    assert re.search(r'class="overdue"[^>]*>1<', row.group())
    assert _text(html, "overview-openable").startswith(
        "Of the tasks you can open: 0 escalated · 0 overdue"
    )
    assert _text(html, "overdue-not-escalated") == (
        "1 more overdue in the queues that escalate to you, not escalated to you yet"
    )
    assert _listed(client, html, "overdue-link") == 0
