"""The sweeper: remind, escalate and expire review tasks past their deadlines, then send the
emails owed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone

from approvals import notifications, selectors
from approvals.models import (
    ACTIVE_STATUSES,
    NotificationKind,
    ReviewTask,
    TaskNotification,
    TaskStatus,
)
from approvals.services._deadlines import next_action_at
from approvals.services._task_events import record_task_event
from approvals.services.notification_delivery import deliver_notifications
from opscore.actors import SYSTEM
from opscore.metrics import ESCALATIONS, SLA_BREACHES
from workflows import engine, registry
from workflows.declaration import HumanStep, Verdict
from workflows.models import WorkflowInstance

# The package logs under one name, `approvals.services`, whichever module speaks.
logger = logging.getLogger(__package__)


def _owe(task: ReviewTask, *, kind: str, recipients: list[str]) -> bool:
    """Record an email owed; the unique row makes a second sweep's attempt a no-op."""
    try:
        with transaction.atomic():
            TaskNotification.objects.create(
                task=task, kind=kind, level=task.escalation_level, recipients=recipients
            )
    except IntegrityError:
        return False
    return True


def _advance(task: ReviewTask, *, now: datetime) -> dict[str, int]:
    done = {"reminders": 0, "escalations": 0, "expirations": 0}
    instance = selectors.task_instance(task=task)
    snapshot = task.policy_snapshot
    levels = snapshot["levels"]
    for _ in range(len(levels) + 2):
        due = task.next_action_at
        if due is None or due > now or task.status not in ACTIVE_STATUSES:
            break
        if task.escalation_level == 0 and task.reminded_at is None and due == task.reminder_at:
            task.reminded_at = now
            # A sweep that comes after the deadline itself escalates; a reminder would be noise.
            if now < task.due_at:
                if task.assignee_id:
                    recipients = notifications.addresses_of_users([task.assignee])
                else:
                    recipients = notifications.addresses_of_group(task.queue)
                _owe(task, kind=NotificationKind.REMINDER, recipients=recipients)
                record_task_event(task, instance=instance, type="task.reminded", actor=SYSTEM)
                done["reminders"] += 1
        elif task.escalation_level < len(levels):
            if task.escalation_level == 0 and now >= task.due_at:
                # The first escalation past the deadline is the breach of the SLA.
                transaction.on_commit(SLA_BREACHES.labels(workflow=task.workflow).inc)
            transaction.on_commit(ESCALATIONS.labels(workflow=task.workflow).inc)
            group = Group.objects.get_or_create(name=levels[task.escalation_level])[0]
            task.escalation_level += 1
            task.escalated_to = group
            task.escalated_at = now
            task.escalated_groups.add(group)
            _owe(
                task,
                kind=NotificationKind.ESCALATION,
                recipients=notifications.addresses_of_group(group),
            )
            record_task_event(
                task,
                instance=instance,
                type="task.escalated",
                actor=SYSTEM,
                extra={"escalated_to": group.name},
            )
            done["escalations"] += 1
        else:
            _expire(task, instance=instance, now=now)
            done["expirations"] += 1
            break
        task.next_action_at = next_action_at(task)
    task.save()
    return done


def _expire(task: ReviewTask, *, instance: WorkflowInstance, now: datetime) -> None:
    step = registry.for_model(type(instance)).step_named(task.step)
    assert isinstance(step, HumanStep)
    task.status = TaskStatus.EXPIRED
    task.decided_at = now
    task.outcome = step.reject_transition
    task.reason = "no decision before the last escalation deadline"
    task.next_action_at = None
    task.save()
    _owe(
        task,
        kind=NotificationKind.EXPIRY,
        recipients=notifications.addresses_of_group(task.queue),
    )
    record_task_event(task, instance=instance, type="task.expired", actor=SYSTEM)
    try:
        with transaction.atomic():
            engine.transition(
                instance=instance,
                name=step.reject_transition,
                actor=SYSTEM,
                data={"step": task.step, "task": task.pk, "reason": task.reason},
                expected_version=task.instance_version,
                verdict=Verdict(step=task.step, task_id=task.pk),
            )
    except (engine.StaleInstance, engine.IllegalTransition) as error:
        logger.warning("expired task %s: instance moved on: %s", task.pk, error)


@dataclass(frozen=True)
class DeadlineSweepReport:
    reminders: int
    escalations: int
    expirations: int
    emails_sent: int
    emails_failed: int


def sweep_review_deadlines(
    *, now: datetime | None = None, batch_size: int = 200
) -> DeadlineSweepReport:
    """Remind, escalate and expire due tasks, then send the emails owed.

    Idempotent and safe to run concurrently: due tasks are claimed with SKIP LOCKED and
    advanced in the same transaction that records the email owed, in a row unique per task,
    kind and level; each owed email is then claimed, sent with no transaction open and marked
    sent, so two sweeps never send the same one.
    """
    now = now or timezone.now()
    totals = {"reminders": 0, "escalations": 0, "expirations": 0}
    with transaction.atomic():
        due = list(
            ReviewTask.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("queue", "assignee", "escalated_to", "instance_type")
            .filter(active=1, next_action_at__lte=now)
            .order_by("next_action_at")[:batch_size]
        )
        for task in due:
            for key, count in _advance(task, now=now).items():
                totals[key] += count
    sent, failed = deliver_notifications(batch_size=batch_size)
    return DeadlineSweepReport(**totals, emails_sent=sent, emails_failed=failed)
