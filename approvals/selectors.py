"""Reads of the approvals layer: the queues, what a reviewer may see, what a task page shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Exists, Model, OuterRef, Q, QuerySet
from django.utils import timezone

from approvals.eligibility import in_task_groups, is_supervisor, level_approved_earlier_by, started
from approvals.models import NotificationKind, ReviewTask, TaskNotification, TaskStatus
from approvals.permissions import may_review
from audit.models import Event
from audit.selectors import instance_timeline
from opscore.actors import Actor
from privacy import sealing
from workflows.selectors import decision_before


def group_ids_for(*, user) -> list[int]:
    return list(user.groups.values_list("pk", flat=True))


def _base() -> QuerySet[ReviewTask]:
    return ReviewTask.objects.select_related("queue", "assignee", "escalated_to")


def visible_tasks(*, user) -> QuerySet[ReviewTask]:
    """Every task of the user's groups' queues, plus those escalated to one of their groups at
    any level (the current one or an earlier one)."""
    return _base().filter(visible_tasks_scope(user=user))


def visible_tasks_scope(*, user) -> Q:
    """The filter of `visible_tasks`, to count what the user may open among other tasks."""
    if user.is_superuser:
        return Q()
    groups = group_ids_for(user=user)
    return Q(queue_id__in=groups) | Q(escalated_to_id__in=groups) | escalated_to_any_of(groups)


def escalated_to_any_of(group_ids: list[int]) -> Exists:
    """The task escalated, at any level so far, to one of these groups: a level-1 supervisor
    keeps the task in sight once it goes to level 2. A subquery, not a join, so a queue page
    needs no DISTINCT and keeps its index order."""
    through = ReviewTask.escalated_groups.through
    return Exists(through.objects.filter(reviewtask_id=OuterRef("pk"), group_id__in=group_ids))


# Asked the requester for information and not answered yet: the task is with the requester,
# out of the working queues until the answer brings it back.
AWAITING_INFORMATION = Q(
    information_requested_at__isnull=False, information_answered_at__isnull=True
)


def my_tasks(*, user) -> QuerySet[ReviewTask]:
    return _base().filter(assignee=user, active=1).exclude(AWAITING_INFORMATION)


def team_queue(*, user) -> QuerySet[ReviewTask]:
    """Active tasks waiting in any of the user's groups' queues."""
    return (
        _base()
        .filter(queue_id__in=group_ids_for(user=user), active=1)
        .exclude(AWAITING_INFORMATION)
    )


def unassigned_tasks(*, user) -> QuerySet[ReviewTask]:
    return (
        _base()
        .filter(
            queue_id__in=group_ids_for(user=user),
            active=1,
            status=TaskStatus.OPEN,
            assignee__isnull=True,
        )
        .exclude(AWAITING_INFORMATION)
    )


def requester_of(*, instance: Model) -> tuple[str, Actor] | None:
    """Who is asked when a reviewer needs more information, and as whom their answer is
    recorded: the person who started the instance, at their account's address; else the
    `requester_email` the starting event carried (its schema must declare it), the answer
    recorded as from whoever started the instance (an integration). None when there is
    nobody to ask.

    The address comes back as the instance holds it: sealed (a `privacy.sealing` token) when
    the event type declared it personal, so the notification row and the log keep only the
    ciphertext and erasing the requester makes it unreadable there too; the mail is addressed
    from the revealed value at sending time."""
    user = getattr(instance, "started_by", None)
    if user is not None and user.is_active and user.email:
        return user.email, Actor.for_user(user)
    sent = (getattr(instance, "context", None) or {}).get("input") or {}
    stored = sent.get("requester_email") if isinstance(sent, dict) else None
    if not _is_address(sealing.reveal(stored)):
        return None
    address = stored if sealing.is_sealed(stored) else stored.strip()
    started = (
        instance_timeline(instance=instance)
        .filter(type="workflow.started")
        .values_list("actor_kind", "actor_ref")
        .first()
    )
    kind, ref = started if started else ("system", "requester")
    return address, Actor(kind=kind, ref=ref)


def _is_address(value: object) -> bool:
    return isinstance(value, str) and "@" in value and len(value) <= 254


def information_requests_sent(*, task: ReviewTask) -> int:
    """How many times the task's requester was asked; the latest request is this number."""
    return TaskNotification.objects.filter(
        task=task, kind=NotificationKind.INFORMATION_REQUEST
    ).count()


def overdue_tasks(*, user, now: datetime | None = None) -> QuerySet[ReviewTask]:
    return visible_tasks(user=user).filter(active=1, due_at__lt=now or timezone.now())


def escalated_tasks(*, user) -> QuerySet[ReviewTask]:
    """Escalated and still waiting: supervisors see those escalated to them; a queue's members
    see their own queue's escalations too."""
    return visible_tasks(user=user).filter(active=1, escalation_level__gt=0)


def active_task_for(*, instance: Model) -> ReviewTask | None:
    return (
        ReviewTask.objects.filter(
            instance_type=ContentType.objects.get_for_model(instance),
            instance_id=instance.pk,
            active=1,
        )
        .order_by("-opened_at")
        .first()
    )


def tasks_for(*, instance: Model) -> QuerySet[ReviewTask]:
    return _base().filter(
        instance_type=ContentType.objects.get_for_model(instance), instance_id=instance.pk
    )


def task_instance(*, task: ReviewTask) -> Model:
    return task.instance_type.model_class().objects.get(pk=task.instance_id)


def routing_decision(*, task: ReviewTask) -> Any:
    """The automated decision that sent the instance to this step: its latest decision made
    before the task opened (None when it came by a manual transition)."""
    return decision_before(
        instance_type_id=task.instance_type_id,
        instance_id=task.instance_id,
        moment=task.opened_at,
    )


def task_timeline(*, task: ReviewTask) -> QuerySet[Event]:
    return instance_timeline(instance=task_instance(task=task))


# --- what a task page offers its viewer ------------------------------------------------------

APPROVE, REJECT, REQUEST_INFO, CLAIM, RELEASE, REASSIGN = (
    "approve",
    "reject",
    "request_info",
    "claim",
    "release",
    "reassign",
)
MAX_REASSIGN_CANDIDATES = 50


@dataclass(frozen=True)
class TaskOffer:
    """The buttons a task page shows this viewer, and why a decision is not among them.

    It follows the refusals of approvals.services (queue membership, the step's permission,
    four-eyes, someone else's claim) so that a button is only shown when the service would
    accept it; the services still check everything again when it is pressed.
    """

    actions: tuple[str, ...] = ()
    why_not: str = ""
    # Whom the task may be handed to (usernames), when REASSIGN is offered.
    candidates: tuple[str, ...] = ()

    def offers(self, action: str) -> bool:
        return action in self.actions


def task_offer(*, task: ReviewTask, user, instance: Model | None = None) -> TaskOffer:
    if task.status not in (TaskStatus.OPEN, TaskStatus.CLAIMED):
        return TaskOffer()
    if not in_task_groups(task, user):
        return TaskOffer(why_not=f"You are not in the {task.queue.name!r} queue.")
    if not may_review(user, workflow=task.workflow, step=task.step):
        return TaskOffer(why_not=f"You may read this task but not decide {task.step!r}.")
    instance = instance or task_instance(task=task)
    if started(instance, user):
        return TaskOffer(
            why_not=f"You started {instance}: someone else must decide it (four-eyes rule)."
        )
    supervisor = is_supervisor(task, user)
    if task.status == TaskStatus.CLAIMED and task.assignee_id != user.pk:
        holder = task.assignee
        if may_review(holder, workflow=task.workflow, step=task.step):
            candidates = reassign_candidates(task=task, instance=instance) if supervisor else ()
            return TaskOffer(
                actions=(RELEASE, REASSIGN) if supervisor and candidates else (),
                candidates=tuple(name for name in candidates if name != holder.get_username()),
                why_not=f"Claimed by {holder.get_username()}: they decide it unless it is "
                "released.",
            )
    actions = [APPROVE, REJECT, REQUEST_INFO]
    why_not = ""
    earlier = level_approved_earlier_by(task, user)
    if earlier is not None:
        actions.remove(APPROVE)
        why_not = (
            f"You approved {earlier!r} of {instance}: another person approves this level "
            "(four-eyes rule)."
        )
    # Claimed here means by the viewer, or by someone who can no longer decide it (a claim
    # that would strand the task): either way the viewer may put it back in the queue.
    actions.append(CLAIM if task.status == TaskStatus.OPEN else RELEASE)
    candidates = tuple(
        name
        for name in reassign_candidates(task=task, instance=instance)
        if name != user.get_username()
    )
    if candidates:
        actions.append(REASSIGN)
    return TaskOffer(actions=tuple(actions), why_not=why_not, candidates=candidates)


def reassign_candidates(*, task: ReviewTask, instance: Model) -> tuple[str, ...]:
    """Who may be handed the task, as the reassign service checks them: active members of
    its groups who may decide its step and did not start the instance."""
    from django.contrib.auth import get_user_model

    groups = {task.queue_id} | ({task.escalated_to_id} if task.escalated_to_id else set())
    people = (
        get_user_model()
        .objects.filter(is_active=True, groups__in=groups)
        .exclude(pk=instance.started_by_id or 0)
        .distinct()
        .order_by("username")[:MAX_REASSIGN_CANDIDATES]
    )
    return tuple(
        person.get_username()
        for person in people
        if may_review(person, workflow=task.workflow, step=task.step)
    )
