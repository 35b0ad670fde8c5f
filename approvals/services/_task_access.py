"""Taking hold of a review task before changing it: the row lock and the refusals every use
case starts with."""

from __future__ import annotations

from approvals.models import ACTIVE_STATUSES, ReviewTask
from approvals.services.errors import TaskConflict, TaskError
from opscore.actors import Actor


def lock_task(task: ReviewTask) -> ReviewTask:
    return (
        ReviewTask.objects.select_for_update(of=("self",))
        .select_related("queue", "escalated_to", "assignee", "instance_type")
        .get(pk=task.pk)
    )


def require_active(task: ReviewTask) -> None:
    if task.status not in ACTIVE_STATUSES:
        who = f" by {task.decided_by.get_username()}" if task.decided_by_id else ""
        raise TaskConflict(f"task {task.pk} is already {task.get_status_display().lower()}{who}")


def require_user(actor: Actor):
    if actor.user is None:
        raise TaskError(f"{actor.ref} is not a person: review tasks are worked by people")
    return actor.user
