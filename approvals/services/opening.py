"""Opening and closing review tasks: the engine's hooks as an instance enters or leaves a human
step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from approvals.business_hours import add_business_time
from approvals.models import ACTIVE_STATUSES, EscalationPolicy, ReviewTask, TaskStatus
from approvals.services._deadlines import next_action_at
from approvals.services._task_events import record_task_event
from opscore.actors import SYSTEM, Actor
from workflows import registry
from workflows.declaration import HumanStep
from workflows.models import WorkflowInstance


def _policy_snapshot(policy: EscalationPolicy | None) -> dict[str, Any]:
    if policy is None:
        return {}
    latest = policy.history.order_by("-history_id").values_list("history_id", flat=True).first()
    return {
        "history_id": latest,
        "sla_seconds": policy.sla.total_seconds(),
        "business_hours": policy.business_hours,
        "reminder_before_seconds": (
            policy.reminder_before.total_seconds() if policy.reminder_before else None
        ),
        "levels": [policy.escalate_to.name]
        + [str(level["escalate_to"]) for level in policy.further_levels],
        "level_after_seconds": [
            float(level["after_minutes"]) * 60 for level in policy.further_levels
        ],
        "expire_after_seconds": (
            policy.expire_after.total_seconds() if policy.expire_after else None
        ),
    }


def open_task(*, instance: WorkflowInstance, step: HumanStep, actor: Actor = SYSTEM) -> ReviewTask:
    """Open the task for this visit of a human step; called by the engine as the instance
    enters the step's state, inside the transition's transaction."""
    definition = registry.for_model(type(instance))
    now = timezone.now()
    with transaction.atomic():
        policy = (
            EscalationPolicy.objects.select_related("escalate_to")
            .filter(workflow=definition.name, step=step.name)
            .first()
        )
        snapshot = _policy_snapshot(policy)
        sla = timedelta(seconds=snapshot["sla_seconds"]) if snapshot else step.sla
        due_at = add_business_time(start=now, duration=sla, calendar=snapshot.get("business_hours"))
        reminder_at = None
        if snapshot.get("reminder_before_seconds"):
            reminder_at = due_at - timedelta(seconds=snapshot["reminder_before_seconds"])
        task = ReviewTask(
            instance_type=ContentType.objects.get_for_model(instance),
            instance_id=instance.pk,
            instance_version=instance.version,
            title=str(instance)[:250],
            workflow=definition.name,
            step=step.name,
            queue=Group.objects.get_or_create(name=step.queue)[0],
            opened_at=now,
            due_at=due_at,
            reminder_at=reminder_at,
            policy=policy,
            policy_snapshot=snapshot,
        )
        task.next_action_at = next_action_at(task)
        task.save()
        record_task_event(
            task, instance=instance, type="task.opened", actor=actor, extra={"sla": str(sla)}
        )
    return task


def close_tasks_on_exit(*, instance: WorkflowInstance, transition: str) -> int:
    """The instance left a human step by another path (a cancel): its open task is cancelled."""
    closed = 0
    now = timezone.now()
    tasks = ReviewTask.objects.select_for_update().filter(
        instance_type=ContentType.objects.get_for_model(instance),
        instance_id=instance.pk,
        status__in=ACTIVE_STATUSES,
    )
    for task in tasks:
        task.status = TaskStatus.CANCELLED
        task.outcome = transition
        task.decided_at = now
        task.next_action_at = None
        task.save()
        record_task_event(task, instance=instance, type="task.cancelled", actor=SYSTEM)
        closed += 1
    return closed
