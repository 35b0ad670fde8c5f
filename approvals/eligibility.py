"""Who may hold and review a review task, as plain answers: the services refuse by them and a
task's page offers its buttons by them, so the two never disagree."""

from __future__ import annotations

from django.db.models import Model

from approvals.models import ReviewTask, TaskStatus


def in_task_groups(task: ReviewTask, user) -> bool:
    """In the task's queue or a group it was escalated to (a superuser is in every one)."""
    if user.is_superuser:
        return True
    groups = set(user.groups.values_list("pk", flat=True))
    allowed = {task.queue_id} | ({task.escalated_to_id} if task.escalated_to_id else set())
    if task.escalation_level > 1:
        # An earlier escalation level keeps the task: it only gained company.
        allowed |= set(task.escalated_groups.values_list("pk", flat=True))
    return bool(groups & allowed)


def is_supervisor(task: ReviewTask, user) -> bool:
    """In one of the groups the task's escalation policy escalates to."""
    if user.is_superuser:
        return True
    levels = task.policy_snapshot.get("levels") or []
    return user.groups.filter(name__in=levels).exists()


def started(instance: Model, user) -> bool:
    """The person who requested or started the instance: four-eyes keeps them from deciding."""
    return instance.started_by_id is not None and instance.started_by_id == user.pk


def level_approved_earlier_by(task: ReviewTask, user) -> str | None:
    """The step of the same instance this person already approved, if any: four-eyes wants a
    different person for each approval level."""
    return (
        ReviewTask.objects.filter(
            instance_type_id=task.instance_type_id,
            instance_id=task.instance_id,
            status=TaskStatus.APPROVED,
            decided_by=user,
        )
        .exclude(pk=task.pk)
        .values_list("step", flat=True)
        .first()
    )
