"""SLA reminders, escalation and expiry, with the clock moved and mail over real SMTP."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, transaction

from approvals import selectors
from approvals.business_hours import add_business_time
from approvals.models import EscalationPolicy, ReviewTask, TaskNotification, TaskStatus
from approvals.services import sweep_review_deadlines
from audit.selectors import instance_timeline
from processes.orders.models import OrderState
from tests.factories import UserFactory, order_in_review, reviewer

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


def _member(username: str, group: str):
    user = UserFactory(username=username, email=f"{username}@example.test")
    user.groups.add(Group.objects.get(name=group))
    return user


def _order_policy(**changes) -> EscalationPolicy:
    policy = EscalationPolicy.objects.get(workflow="order", step="manual.review")
    for name, value in changes.items():
        setattr(policy, name, value)
    policy.save()
    return policy


def _sweep_at(moment: datetime):
    with time_machine.travel(moment, tick=False):
        return sweep_review_deadlines()


def _event_types(order) -> list[str]:
    return [event.type for event in instance_timeline(instance=order)]


def test_escalation_email_goes_out_once_just_after_the_deadline(smtp):
    _order_policy(reminder_before=None)
    _member("sue", "supervisors")
    _member("sam", "supervisors")
    _member("rob", "reviewers")
    with time_machine.travel(START, tick=False):
        order = order_in_review()
    task = selectors.active_task_for(instance=order)
    assert task.due_at == START + timedelta(hours=2)

    before = _sweep_at(task.due_at - timedelta(seconds=1))
    assert (before.escalations, before.emails_sent) == (0, 0)
    assert smtp.received() == []

    after = _sweep_at(task.due_at + timedelta(seconds=1))
    assert (after.escalations, after.emails_sent) == (1, 1)
    again = _sweep_at(task.due_at + timedelta(seconds=2))
    assert (again.escalations, again.emails_sent) == (0, 0)

    [mail] = smtp.received()
    assert mail["X-Envelope-To"] == "sam@example.test, sue@example.test"
    assert mail["Subject"].startswith("[opscore] Escalated (level 1)")
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in mail.walk()
        if not part.is_multipart()
    }
    link = f"https://ops.example.test/admin/approvals/reviewtask/{task.pk}/change/"
    assert link in parts["text/plain"]
    assert f'href="{link}"' in parts["text/html"]

    task.refresh_from_db()
    assert (task.escalation_level, task.escalated_to.name) == (1, "supervisors")
    assert task.status == TaskStatus.OPEN
    assert _event_types(order).count("task.escalated") == 1
    assert _event_types(order).count("task.notification_sent") == 1


def test_reminder_goes_to_the_queue_once_before_the_deadline(smtp):
    _member("rob", "reviewers")
    _member("sue", "supervisors")
    with time_machine.travel(START, tick=False):
        order = order_in_review()
    task = selectors.active_task_for(instance=order)
    assert task.reminder_at == task.due_at - timedelta(minutes=30)

    assert _sweep_at(task.reminder_at - timedelta(seconds=1)).reminders == 0
    assert _sweep_at(task.reminder_at + timedelta(seconds=1)).reminders == 1
    assert _sweep_at(task.reminder_at + timedelta(seconds=2)).reminders == 0
    [mail] = smtp.received()
    assert mail["X-Envelope-To"] == "rob@example.test"
    assert mail["Subject"].startswith("[opscore] Reminder")


def test_a_claimed_task_reminds_its_holder_only(smtp):
    from approvals.services import claim_task
    from opscore.actors import Actor

    _member("rob", "reviewers")
    holder = reviewer("rita")
    holder.email = "rita@example.test"
    holder.save()
    with time_machine.travel(START, tick=False):
        order = order_in_review()
        task = claim_task(
            task=selectors.active_task_for(instance=order), actor=Actor.for_user(holder)
        )
    _sweep_at(task.reminder_at + timedelta(seconds=1))
    [mail] = smtp.received()
    assert mail["X-Envelope-To"] == "rita@example.test"


def test_further_levels_then_expiry_reject_the_step(smtp):
    _member("sue", "supervisors")
    _member("max", "managers")
    _order_policy(
        reminder_before=None,
        further_levels=[{"after_minutes": 60, "escalate_to": "managers"}],
        expire_after=timedelta(hours=4),
    )
    with time_machine.travel(START, tick=False):
        order = order_in_review()
    task = selectors.active_task_for(instance=order)
    due = task.due_at

    _sweep_at(due + timedelta(seconds=1))
    _sweep_at(due + timedelta(minutes=60, seconds=2))
    task.refresh_from_db()
    assert (task.escalation_level, task.escalated_to.name) == (2, "managers")
    assert [m["X-Envelope-To"] for m in smtp.received()] == ["sue@example.test", "max@example.test"]

    _sweep_at(due + timedelta(minutes=60 + 240, seconds=3))
    task.refresh_from_db()
    order.refresh_from_db()
    assert task.status == TaskStatus.EXPIRED
    assert order.state == OrderState.CANCELLED  # the step's reject transition
    assert TaskNotification.objects.filter(task=task).count() == 3


def test_a_late_sweep_escalates_without_a_stale_reminder(smtp):
    _member("rob", "reviewers")
    _member("sue", "supervisors")
    with time_machine.travel(START, tick=False):
        order = order_in_review()
    task = selectors.active_task_for(instance=order)
    report = _sweep_at(task.due_at + timedelta(minutes=5))
    assert (report.reminders, report.escalations) == (0, 1)
    assert [m["X-Envelope-To"] for m in smtp.received()] == ["sue@example.test"]


def test_editing_a_policy_keeps_the_deadlines_of_waiting_tasks_and_its_history(smtp):
    with time_machine.travel(START, tick=False):
        order = order_in_review()
    _order_policy(sla=timedelta(hours=10))
    task = ReviewTask.objects.get(instance_id=order.pk)
    assert task.due_at == START + timedelta(hours=2)
    policy = EscalationPolicy.objects.get(workflow="order", step="manual.review")
    assert [h.sla for h in policy.history.order_by("history_id")] == [
        timedelta(hours=2),
        timedelta(hours=10),
    ]


def test_a_cancelled_order_cancels_its_task_and_nothing_escalates(smtp):
    from opscore.actors import Actor
    from tests.factories import user_with_perms
    from workflows import services

    _member("sue", "supervisors")
    boss = user_with_perms("processes.cancel_order")
    with time_machine.travel(START, tick=False):
        order = order_in_review()
        services.cancel_workflow(instance=order, actor=Actor.for_user(boss), reason="duplicate")
    task = ReviewTask.objects.get(instance_id=order.pk)
    assert (task.status, task.outcome) == (TaskStatus.CANCELLED, "cancel")
    assert _sweep_at(task.due_at + timedelta(hours=1)).escalations == 0
    assert smtp.received() == []


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        (datetime(2026, 3, 2, 10, 0, tzinfo=UTC), timedelta(hours=2), datetime(2026, 3, 2, 12, 0)),
        (
            datetime(2026, 3, 6, 16, 30, tzinfo=UTC),
            timedelta(hours=2),
            datetime(2026, 3, 9, 10, 30),
        ),
        (datetime(2026, 3, 7, 12, 0, tzinfo=UTC), timedelta(hours=1), datetime(2026, 3, 9, 10, 0)),
        (datetime(2026, 3, 2, 18, 0, tzinfo=UTC), timedelta(hours=9), datetime(2026, 3, 4, 10, 0)),
    ],
)
def test_business_hours_count_only_open_hours(start, duration, due):
    calendar = {"timezone": "UTC", "weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}
    assert add_business_time(start=start, duration=duration, calendar=calendar) == due.replace(
        tzinfo=UTC
    )


def test_the_sweeper_schedule_runs_every_minute_and_points_at_a_real_task():
    import importlib

    from django.apps import apps
    from django.utils.module_loading import import_string
    from django_q.models import Schedule

    # The migration's own function, as a flushed test database may have lost its row.
    migration = importlib.import_module("approvals.migrations.0002_sweeper_schedule")
    migration.create_schedule(apps, None)
    schedule = Schedule.objects.get(name="opscore.review_deadlines")
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == ("I", 1, -1)
    assert import_string(schedule.func)() == {
        "reminders": 0,
        "escalations": 0,
        "expirations": 0,
        "emails_sent": 0,
        "emails_failed": 0,
    }


def test_a_notification_email_carries_the_request_id_of_the_sweep_that_sent_it(smtp):
    from opscore import request_context

    _order_policy(reminder_before=None)
    _member("sue", "supervisors")
    with time_machine.travel(START, tick=False):
        order = order_in_review()
    task = selectors.active_task_for(instance=order)

    # As django-q2's worker does before each job (opscore.request_context.start_job).
    sweep_id = request_context.start(request_id="sweep-2026-03-02T11")
    try:
        _sweep_at(task.due_at + timedelta(seconds=1))
    finally:
        request_context.start()
    [mail] = smtp.received()
    assert mail["X-Request-ID"] == sweep_id


def test_while_the_mail_server_has_the_email_no_transaction_holds_its_notification(live_db, smtp):
    _order_policy(reminder_before=None)
    _member("sue", "supervisors")
    with time_machine.travel(START, tick=False):
        order = order_in_review()
    task = selectors.active_task_for(instance=order)
    seen = []

    def look(message):
        # Another connection, as a second sweep or a page would read the row meanwhile.
        notification = TaskNotification.objects.get(task=task, kind="escalation")
        locked = False
        if connection.vendor == "postgresql":
            try:
                with transaction.atomic():
                    TaskNotification.objects.select_for_update(nowait=True).get(pk=notification.pk)
            except DatabaseError:
                locked = True
        seen.append((notification.attempts, notification.sent_at, locked))

    smtp.on_message = look
    report = _sweep_at(task.due_at + timedelta(seconds=1))

    assert (report.emails_sent, report.emails_failed) == (1, 0)
    # The attempt is counted and committed before the mail leaves (so no other sweep sends it
    # too), no lock is held while the server answers, and it is not yet marked sent.
    assert seen == [(1, None, False)]
    notification = TaskNotification.objects.get(task=task, kind="escalation")
    assert notification.sent_at is not None
    assert notification.attempts == 1
    assert _event_types(order).count("task.notification_sent") == 1
    assert len(smtp.received()) == 1


def test_an_email_the_server_refused_is_sent_by_a_later_sweep_once(smtp):
    _order_policy(reminder_before=None)
    _member("sue", "supervisors")
    with time_machine.travel(START, tick=False):
        order = order_in_review()
    task = selectors.active_task_for(instance=order)
    smtp.on_message = lambda message: "451 4.3.0 mailbox busy, try again later"

    refused = _sweep_at(task.due_at + timedelta(seconds=1))
    assert (refused.escalations, refused.emails_sent, refused.emails_failed) == (1, 0, 1)
    notification = TaskNotification.objects.get(task=task, kind="escalation")
    assert (notification.attempts, notification.sent_at) == (1, None)
    assert "451" in notification.last_error
    assert "task.notification_sent" not in _event_types(order)

    smtp.on_message = None
    retried = _sweep_at(task.due_at + timedelta(minutes=1))
    assert (retried.escalations, retried.emails_sent, retried.emails_failed) == (0, 1, 0)
    again = _sweep_at(task.due_at + timedelta(minutes=2))
    assert (again.emails_sent, again.emails_failed) == (0, 0)

    [mail] = smtp.received()
    assert mail["Subject"].startswith("[opscore] Escalated (level 1)")
    notification.refresh_from_db()
    assert notification.attempts == 2
    assert notification.sent_at is not None
    assert _event_types(order).count("task.notification_sent") == 1
