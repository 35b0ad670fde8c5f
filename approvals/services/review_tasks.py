"""Working a review task: claim, release, reassign, approve, reject.

Approving or rejecting drives the workflow with `engine.transition` in the transaction that
decides the task, so a task is never decided without its instance moving on (or the reverse)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from approvals import selectors
from approvals.eligibility import is_supervisor
from approvals.models import ReviewTask, TaskStatus
from approvals.services._task_access import lock_task, require_active, require_user
from approvals.services._task_events import record_task_event
from approvals.services.errors import ReasonRequired, TaskConflict
from approvals.services.four_eyes import (
    held_by_a_reviewer,
    refuse_requester,
    refuse_second_level_by_same_person,
    require_member,
    require_reviewer,
)
from opscore.actors import Actor
from opscore.scrubbing import recordable
from workflows import engine, registry
from workflows.declaration import HumanStep, Verdict
from workflows.models import WorkflowInstance


def claim_task(*, task: ReviewTask, actor: Actor) -> ReviewTask:
    """Take an open task from the queue; claiming one you already hold changes nothing."""
    user = require_user(actor)
    with transaction.atomic():
        locked = lock_task(task)
        require_active(locked)
        if locked.status == TaskStatus.CLAIMED:
            if locked.assignee_id == user.pk:
                return locked
            raise TaskConflict(
                f"task {locked.pk} is already claimed by {locked.assignee.get_username()}"
            )
        require_member(locked, user)
        require_reviewer(locked, user, doing="claim")
        instance = selectors.task_instance(task=locked)
        refuse_requester(locked, instance, user, doing="claim")
        locked.status = TaskStatus.CLAIMED
        locked.assignee = user
        locked.save()
        record_task_event(locked, instance=instance, type="task.claimed", actor=actor)
    return locked


def release_task(*, task: ReviewTask, actor: Actor) -> ReviewTask:
    """Put a claimed task back in its queue; its holder or a supervisor may, and so may anyone
    of its groups who can decide it when the holder cannot (a claim never strands a task)."""
    user = require_user(actor)
    with transaction.atomic():
        locked = lock_task(task)
        require_active(locked)
        if locked.status != TaskStatus.CLAIMED:
            raise TaskConflict(f"task {locked.pk} is not claimed")
        if locked.assignee_id != user.pk and not is_supervisor(locked, user):
            if held_by_a_reviewer(locked):
                raise TaskConflict(
                    f"task {locked.pk} is claimed by {locked.assignee.get_username()}; "
                    "only they or a supervisor can release it"
                )
            # A stranded claim: anyone of the task's groups who may decide frees it.
            require_member(locked, user)
            require_reviewer(locked, user, doing="release")
        previous = locked.assignee.get_username()
        locked.status = TaskStatus.OPEN
        locked.assignee = None
        locked.save()
        record_task_event(
            locked,
            instance=selectors.task_instance(task=locked),
            type="task.released",
            actor=actor,
            extra={"previous_assignee": previous},
        )
    return locked


def reassign_task(*, task: ReviewTask, actor: Actor, assignee) -> ReviewTask:
    """Hand a task to another member of its queue; its holder or a supervisor may."""
    user = require_user(actor)
    with transaction.atomic():
        locked = lock_task(task)
        require_active(locked)
        holder = locked.assignee_id
        if holder not in (None, user.pk) and not is_supervisor(locked, user):
            raise TaskConflict(
                f"task {locked.pk} is claimed by {locked.assignee.get_username()}; "
                "only they or a supervisor can reassign it"
            )
        if holder is None:
            require_member(locked, user)
        require_member(locked, assignee)
        require_reviewer(locked, assignee, doing="be assigned")
        instance = selectors.task_instance(task=locked)
        refuse_requester(locked, instance, assignee, doing="be assigned")
        previous = locked.assignee.get_username() if holder else None
        locked.status = TaskStatus.CLAIMED
        locked.assignee = assignee
        locked.save()
        record_task_event(
            locked,
            instance=instance,
            type="task.reassigned",
            actor=actor,
            extra={"previous_assignee": previous},
        )
    return locked


def _deliver_verdict(
    *,
    task: ReviewTask,
    actor: Actor,
    approve: bool,
    reason: str,
    context_update: dict[str, Any] | None = None,
    channel: dict[str, Any] | None = None,
) -> tuple[ReviewTask, WorkflowInstance]:
    user = require_user(actor)
    # A reason is recorded in the task, the instance's event and the (uneditable) log.
    reason = recordable(reason)
    with transaction.atomic():
        locked = lock_task(task)
        require_active(locked)
        if (
            locked.status == TaskStatus.CLAIMED
            and locked.assignee_id != user.pk
            and held_by_a_reviewer(locked)
        ):
            raise TaskConflict(
                f"task {locked.pk} is claimed by {locked.assignee.get_username()}; "
                "release or reassign it first"
            )
        require_member(locked, user)
        instance = selectors.task_instance(task=locked)
        refuse_requester(locked, instance, user, doing="approve" if approve else "reject")
        if approve:
            refuse_second_level_by_same_person(locked, user)
        step = registry.for_model(type(instance)).step_named(locked.step)
        assert isinstance(step, HumanStep)
        name = step.approve_transition_for(instance) if approve else step.reject_transition
        locked.status = TaskStatus.APPROVED if approve else TaskStatus.REJECTED
        if locked.assignee_id != user.pk and not held_by_a_reviewer(locked):
            locked.assignee = user  # taken over from a holder who could not decide
        locked.assignee = locked.assignee or user
        locked.decided_by = user
        locked.decided_at = timezone.now()
        locked.outcome = name
        locked.reason = reason
        locked.next_action_at = None
        locked.save()
        record_task_event(
            locked,
            instance=instance,
            type="task.approved" if approve else "task.rejected",
            actor=actor,
            extra={"outcome": name, "reason": reason, **({"channel": channel} if channel else {})},
        )
        try:
            moved = engine.transition(
                instance=instance,
                name=name,
                actor=actor,
                data={"step": locked.step, "task": locked.pk, "reason": reason},
                context_update=context_update,
                expected_version=locked.instance_version,
                verdict=Verdict(step=locked.step, task_id=locked.pk),
            )
        except (engine.StaleInstance, engine.IllegalTransition) as error:
            raise TaskConflict(f"{instance} moved on before this decision: {error}") from error
    return locked, moved


def approve_task(
    *,
    task: ReviewTask,
    actor: Actor,
    comment: str = "",
    context_update: dict[str, Any] | None = None,
    channel: dict[str, Any] | None = None,
) -> ReviewTask:
    """Approve and move the instance on, in one transaction; `context_update` carries what the
    reviewer decided along with the approval (e.g. an order's `carrier_choice`).

    Refused (nothing written) when the task was decided or closed meanwhile, or is claimed by
    someone else (TaskConflict); when the person started the instance or approved an earlier
    level of it (SelfApprovalRefused); when they are outside the task's queue (NotInQueue);
    and when the transition's permission is missing (engine.TransitionNotPermitted). Of two
    concurrent approvals exactly one wins: the row lock makes the second see the first's.
    `channel` describes the edge the decision came through when it is not the person's own
    session (a command: the OS user, a break-glass reason); it is recorded in the event.
    """
    return _deliver_verdict(
        task=task,
        actor=actor,
        approve=True,
        reason=comment,
        context_update=context_update,
        channel=channel,
    )[0]


def reject_task(
    *, task: ReviewTask, actor: Actor, reason: str, channel: dict[str, Any] | None = None
) -> ReviewTask:
    """Reject with a reason (required) and take the step's reject transition."""
    if not reason.strip():
        raise ReasonRequired("a reason is required to reject")
    return _deliver_verdict(
        task=task, actor=actor, approve=False, reason=reason.strip(), channel=channel
    )[0]


def _task_for(instance: WorkflowInstance) -> ReviewTask:
    task = selectors.active_task_for(instance=instance)
    if task is None:
        raise engine.IllegalTransition(type(instance).objects.get(pk=instance.pk), "review")
    return task


def approve_review(
    *, instance: WorkflowInstance, actor: Actor, comment: str = ""
) -> WorkflowInstance:
    """Approve the task the instance waits on (see approve_task)."""
    return _deliver_verdict(task=_task_for(instance), actor=actor, approve=True, reason=comment)[1]


def reject_review(*, instance: WorkflowInstance, actor: Actor, reason: str) -> WorkflowInstance:
    """Reject the task the instance waits on, with a reason (see reject_task)."""
    if not reason.strip():
        raise ReasonRequired("a reason is required to reject")
    return _deliver_verdict(
        task=_task_for(instance), actor=actor, approve=False, reason=reason.strip()
    )[1]
