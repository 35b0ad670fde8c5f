"""Who may hold and decide a review task: the four-eyes rule (the requester never decides, one
person approves one level) and the queue membership and permission it rests on."""

from __future__ import annotations

from approvals.eligibility import in_task_groups, level_approved_earlier_by, started
from approvals.models import ReviewTask
from approvals.permissions import may_review
from approvals.services.errors import CannotReview, NotInQueue, SelfApprovalRefused
from workflows.models import WorkflowInstance


def require_member(task: ReviewTask, user) -> None:
    if not in_task_groups(task, user):
        raise NotInQueue(
            f"{user.get_username()} is not in the {task.queue.name!r} queue"
            + (f" nor in {task.escalated_to.name!r}" if task.escalated_to_id else "")
        )


def refuse_requester(task: ReviewTask, instance: WorkflowInstance, user, *, doing: str) -> None:
    if started(instance, user):
        raise SelfApprovalRefused(
            f"{user.get_username()} started {instance} and cannot {doing} its review "
            "(four-eyes rule)"
        )


def refuse_second_level_by_same_person(task: ReviewTask, user) -> None:
    earlier = level_approved_earlier_by(task, user)
    if earlier is not None:
        raise SelfApprovalRefused(
            f"{user.get_username()} already approved {earlier!r} of {task.title}; "
            "each approval level needs a different person (four-eyes rule)"
        )


def can_review(task: ReviewTask, user) -> bool:
    return may_review(user, workflow=task.workflow, step=task.step)


def require_reviewer(task: ReviewTask, user, *, doing: str) -> None:
    if not can_review(task, user):
        raise CannotReview(
            f"{user.get_username()} may not decide {task.step!r} and so cannot {doing} task "
            f"{task.pk}: only people who can approve or reject it may hold it"
        )


def held_by_a_reviewer(task: ReviewTask) -> bool:
    """A claim blocks others only while its holder can still decide: one who cannot (a
    permission since removed, a claim from before the rule) never strands the task."""
    return task.assignee_id is not None and can_review(task, task.assignee)
