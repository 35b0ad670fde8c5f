"""Review-task use cases: open, claim, release, reassign, approve, reject, request information,
and the sweeper that reminds, escalates and expires.

Every change to a task is recorded in the event log through the engine, in the transaction
that makes it; approving or rejecting drives the workflow with `engine.transition` in that
same transaction, so a task is never decided without its instance moving on (or the reverse).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone

from approvals import notifications, selectors
from approvals.business_hours import add_business_time
from approvals.models import (
    ACTIVE_STATUSES,
    EscalationPolicy,
    NotificationKind,
    ReviewTask,
    TaskNotification,
    TaskStatus,
)
from approvals.permissions import may_decide
from opscore.actors import SYSTEM, Actor
from opscore.metrics import ESCALATIONS, NOTIFICATION_FAILURES, SLA_BREACHES
from opscore.scrubbing import recordable
from workflows import engine, registry
from workflows.models import WorkflowInstance
from workflows.registry import Decision, HumanStep

logger = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 5


class TaskError(engine.WorkflowError):
    """A refusal on a review task; the message is fit to show a reviewer."""


class TaskConflict(TaskError):
    """Someone else got there first: the task was decided, claimed or closed meanwhile."""


class NotInQueue(TaskError):
    """The person is in none of the groups the task's queue or escalation belongs to."""


class SelfApprovalRefused(TaskError):
    """Four-eyes: the requester may not decide, and one person may not approve two levels."""


class ReasonRequired(TaskError):
    pass


class CannotDecide(TaskError):
    """The person lacks the permission the step's decision needs, so may not hold the task."""


# --- opening and closing (engine hooks) ----------------------------------------------------


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
        task.next_action_at = _next_action_at(task)
        task.save()
        _record(task, instance=instance, type="task.opened", actor=actor, extra={"sla": str(sla)})
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
        _record(task, instance=instance, type="task.cancelled", actor=SYSTEM)
        closed += 1
    return closed


# --- working a task ------------------------------------------------------------------------


def _lock(task: ReviewTask) -> ReviewTask:
    return (
        ReviewTask.objects.select_for_update(of=("self",))
        .select_related("queue", "escalated_to", "assignee", "instance_type")
        .get(pk=task.pk)
    )


def _record(
    task: ReviewTask,
    *,
    instance: Model,
    type: str,
    actor: Actor,
    extra: dict[str, Any] | None = None,
) -> None:
    engine.record_step_event(
        instance=instance,
        type=type,
        actor=actor,
        payload={
            "task": task.pk,
            "step": task.step,
            "status": task.status,
            "queue": task.queue.name,
            "assignee": task.assignee.get_username() if task.assignee_id else None,
            "due_at": task.due_at,
            "escalation_level": task.escalation_level,
            **(extra or {}),
        },
    )


def _require_active(task: ReviewTask) -> None:
    if task.status not in ACTIVE_STATUSES:
        who = f" by {task.decided_by.get_username()}" if task.decided_by_id else ""
        raise TaskConflict(f"task {task.pk} is already {task.get_status_display().lower()}{who}")


def _require_member(task: ReviewTask, user) -> None:
    if user.is_superuser:
        return
    groups = set(user.groups.values_list("pk", flat=True))
    allowed = {task.queue_id} | ({task.escalated_to_id} if task.escalated_to_id else set())
    if task.escalation_level > 1:
        # An earlier escalation level keeps the task: it only gained company.
        allowed |= set(task.escalated_groups.values_list("pk", flat=True))
    if not groups & allowed:
        raise NotInQueue(
            f"{user.get_username()} is not in the {task.queue.name!r} queue"
            + (f" nor in {task.escalated_to.name!r}" if task.escalated_to_id else "")
        )


def _is_supervisor(task: ReviewTask, user) -> bool:
    if user.is_superuser:
        return True
    levels = task.policy_snapshot.get("levels") or []
    return user.groups.filter(name__in=levels).exists()


def _refuse_requester(task: ReviewTask, instance: WorkflowInstance, user, *, doing: str) -> None:
    if instance.started_by_id is not None and instance.started_by_id == user.pk:
        raise SelfApprovalRefused(
            f"{user.get_username()} started {instance} and cannot {doing} its review "
            "(four-eyes rule)"
        )


def _refuse_second_level_by_same_person(task: ReviewTask, user) -> None:
    earlier = (
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
    if earlier is not None:
        raise SelfApprovalRefused(
            f"{user.get_username()} already approved {earlier!r} of {task.title}; "
            "each approval level needs a different person (four-eyes rule)"
        )


def _can_decide(task: ReviewTask, user) -> bool:
    return may_decide(user, workflow=task.workflow, step=task.step)


def _require_decider(task: ReviewTask, user, *, doing: str) -> None:
    if not _can_decide(task, user):
        raise CannotDecide(
            f"{user.get_username()} may not decide {task.step!r} and so cannot {doing} task "
            f"{task.pk}: only people who can approve or reject it may hold it"
        )


def _held_by_a_decider(task: ReviewTask) -> bool:
    """A claim blocks others only while its holder can still decide: one who cannot (a
    permission since removed, a claim from before the rule) never strands the task."""
    return task.assignee_id is not None and _can_decide(task, task.assignee)


def _require_user(actor: Actor):
    if actor.user is None:
        raise TaskError(f"{actor.ref} is not a person: review tasks are worked by people")
    return actor.user


def claim_task(*, task: ReviewTask, actor: Actor) -> ReviewTask:
    """Take an open task from the queue; claiming one you already hold changes nothing."""
    user = _require_user(actor)
    with transaction.atomic():
        locked = _lock(task)
        _require_active(locked)
        if locked.status == TaskStatus.CLAIMED:
            if locked.assignee_id == user.pk:
                return locked
            raise TaskConflict(
                f"task {locked.pk} is already claimed by {locked.assignee.get_username()}"
            )
        _require_member(locked, user)
        _require_decider(locked, user, doing="claim")
        instance = selectors.task_instance(task=locked)
        _refuse_requester(locked, instance, user, doing="claim")
        locked.status = TaskStatus.CLAIMED
        locked.assignee = user
        locked.save()
        _record(locked, instance=instance, type="task.claimed", actor=actor)
    return locked


def release_task(*, task: ReviewTask, actor: Actor) -> ReviewTask:
    """Put a claimed task back in its queue; its holder or a supervisor may, and so may anyone
    of its groups who can decide it when the holder cannot (a claim never strands a task)."""
    user = _require_user(actor)
    with transaction.atomic():
        locked = _lock(task)
        _require_active(locked)
        if locked.status != TaskStatus.CLAIMED:
            raise TaskConflict(f"task {locked.pk} is not claimed")
        if locked.assignee_id != user.pk and not _is_supervisor(locked, user):
            if _held_by_a_decider(locked):
                raise TaskConflict(
                    f"task {locked.pk} is claimed by {locked.assignee.get_username()}; "
                    "only they or a supervisor can release it"
                )
            # A stranded claim: anyone of the task's groups who may decide frees it.
            _require_member(locked, user)
            _require_decider(locked, user, doing="release")
        previous = locked.assignee.get_username()
        locked.status = TaskStatus.OPEN
        locked.assignee = None
        locked.save()
        _record(
            locked,
            instance=selectors.task_instance(task=locked),
            type="task.released",
            actor=actor,
            extra={"previous_assignee": previous},
        )
    return locked


def reassign_task(*, task: ReviewTask, actor: Actor, assignee) -> ReviewTask:
    """Hand a task to another member of its queue; its holder or a supervisor may."""
    user = _require_user(actor)
    with transaction.atomic():
        locked = _lock(task)
        _require_active(locked)
        holder = locked.assignee_id
        if holder not in (None, user.pk) and not _is_supervisor(locked, user):
            raise TaskConflict(
                f"task {locked.pk} is claimed by {locked.assignee.get_username()}; "
                "only they or a supervisor can reassign it"
            )
        if holder is None:
            _require_member(locked, user)
        _require_member(locked, assignee)
        _require_decider(locked, assignee, doing="be assigned")
        instance = selectors.task_instance(task=locked)
        _refuse_requester(locked, instance, assignee, doing="be assigned")
        previous = locked.assignee.get_username() if holder else None
        locked.status = TaskStatus.CLAIMED
        locked.assignee = assignee
        locked.save()
        _record(
            locked,
            instance=instance,
            type="task.reassigned",
            actor=actor,
            extra={"previous_assignee": previous},
        )
    return locked


def _decide(
    *,
    task: ReviewTask,
    actor: Actor,
    approve: bool,
    reason: str,
    context_update: dict[str, Any] | None = None,
    channel: dict[str, Any] | None = None,
) -> tuple[ReviewTask, WorkflowInstance]:
    user = _require_user(actor)
    # A reason is recorded in the task, the instance's event and the (uneditable) log.
    reason = recordable(reason)
    with transaction.atomic():
        locked = _lock(task)
        _require_active(locked)
        if (
            locked.status == TaskStatus.CLAIMED
            and locked.assignee_id != user.pk
            and _held_by_a_decider(locked)
        ):
            raise TaskConflict(
                f"task {locked.pk} is claimed by {locked.assignee.get_username()}; "
                "release or reassign it first"
            )
        _require_member(locked, user)
        instance = selectors.task_instance(task=locked)
        _refuse_requester(locked, instance, user, doing="approve" if approve else "reject")
        if approve:
            _refuse_second_level_by_same_person(locked, user)
        step = registry.for_model(type(instance)).step_named(locked.step)
        assert isinstance(step, HumanStep)
        name = step.approve_transition_for(instance) if approve else step.reject_transition
        locked.status = TaskStatus.APPROVED if approve else TaskStatus.REJECTED
        if locked.assignee_id != user.pk and not _held_by_a_decider(locked):
            locked.assignee = user  # taken over from a holder who could not decide
        locked.assignee = locked.assignee or user
        locked.decided_by = user
        locked.decided_at = timezone.now()
        locked.outcome = name
        locked.reason = reason
        locked.next_action_at = None
        locked.save()
        _record(
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
                decision=Decision(step=locked.step, task_id=locked.pk),
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
    return _decide(
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
    return _decide(task=task, actor=actor, approve=False, reason=reason.strip(), channel=channel)[0]


def request_information(*, task: ReviewTask, actor: Actor, message: str) -> ReviewTask:
    """Ask the requester for more before deciding; the task stays with whoever holds it."""
    if not message.strip():
        raise TaskError("say what information is needed")
    user = _require_user(actor)
    with transaction.atomic():
        locked = _lock(task)
        _require_active(locked)
        _require_member(locked, user)
        locked.information_requested = recordable(message.strip())
        locked.information_requested_at = timezone.now()
        locked.save()
        _record(
            locked,
            instance=selectors.task_instance(task=locked),
            type="task.information_requested",
            actor=actor,
            extra={"message": locked.information_requested},
        )
    return locked


# --- instance-level entry points -------------------------------------------------------------


def _task_for(instance: WorkflowInstance) -> ReviewTask:
    task = selectors.active_task_for(instance=instance)
    if task is None:
        raise engine.IllegalTransition(type(instance).objects.get(pk=instance.pk), "review")
    return task


def approve_review(
    *, instance: WorkflowInstance, actor: Actor, comment: str = ""
) -> WorkflowInstance:
    """Approve the task the instance waits on (see approve_task)."""
    return _decide(task=_task_for(instance), actor=actor, approve=True, reason=comment)[1]


def reject_review(*, instance: WorkflowInstance, actor: Actor, reason: str) -> WorkflowInstance:
    """Reject the task the instance waits on, with a reason (see reject_task)."""
    if not reason.strip():
        raise ReasonRequired("a reason is required to reject")
    return _decide(task=_task_for(instance), actor=actor, approve=False, reason=reason.strip())[1]


# --- the sweeper ---------------------------------------------------------------------------


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def _next_action_at(task: ReviewTask) -> datetime | None:
    """When the sweeper next has something to do for this task, from its state alone."""
    snapshot = task.policy_snapshot
    if not snapshot:
        return None
    levels = snapshot["levels"]
    if task.escalation_level == 0:
        if task.reminder_at and task.reminded_at is None and task.reminder_at < task.due_at:
            return task.reminder_at
        return task.due_at
    if task.escalation_level < len(levels):
        return task.escalated_at + timedelta(
            seconds=snapshot["level_after_seconds"][task.escalation_level - 1]
        )
    expire_after = _seconds(snapshot.get("expire_after_seconds"))
    return task.escalated_at + expire_after if expire_after else None


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
                _record(task, instance=instance, type="task.reminded", actor=SYSTEM)
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
            _record(
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
        task.next_action_at = _next_action_at(task)
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
    _record(task, instance=instance, type="task.expired", actor=SYSTEM)
    try:
        with transaction.atomic():
            engine.transition(
                instance=instance,
                name=step.reject_transition,
                actor=SYSTEM,
                data={"step": task.step, "task": task.pk, "reason": task.reason},
                expected_version=task.instance_version,
                decision=Decision(step=task.step, task_id=task.pk),
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
    kind and level; each owed email is then sent under its own row lock and marked sent, so
    two sweeps never send the same one.
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


def deliver_notifications(*, batch_size: int = 200) -> tuple[int, int]:
    """Send owed emails, each under its row lock; a failure is kept and retried next sweep."""
    sent = failed = 0
    pending = list(
        TaskNotification.objects.filter(
            sent_at__isnull=True, attempts__lt=MAX_SEND_ATTEMPTS
        ).values_list("pk", flat=True)[:batch_size]
    )
    for pk in pending:
        with transaction.atomic():
            notification = (
                TaskNotification.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("task__queue", "task__escalated_to", "task__instance_type")
                .filter(pk=pk, sent_at__isnull=True)
                .first()
            )
            if notification is None:
                continue
            notification.attempts += 1
            try:
                notifications.send(notification)
            except Exception as error:  # SMTP down or refusing: keep the row, try again later
                notification.last_error = recordable(f"{type(error).__name__}: {error}")
                notification.save()
                failed += 1
                NOTIFICATION_FAILURES.labels(kind=notification.kind).inc()
                logger.warning("notification %s not sent: %s", pk, error)
                continue
            notification.sent_at = timezone.now()
            notification.save()
            task = notification.task
            _record(
                task,
                instance=selectors.task_instance(task=task),
                type="task.notification_sent",
                actor=SYSTEM,
                extra={
                    "kind": notification.kind,
                    "level": notification.level,
                    "recipients": notification.recipients,
                },
            )
            sent += 1
    return sent, failed


# --- seeding -------------------------------------------------------------------------------


def seed_reference_policies() -> int:
    """Create the review groups and the reference escalation policies, if missing.

    Idempotent; never changes a policy that exists (people may have tuned it since).
    """
    from approvals.reference import REFERENCE_POLICIES, REVIEW_GROUPS

    created = 0
    with transaction.atomic():
        for name in REVIEW_GROUPS:
            Group.objects.get_or_create(name=name)
        for spec in REFERENCE_POLICIES:
            if EscalationPolicy.objects.filter(
                workflow=spec["workflow"], step=spec["step"]
            ).exists():
                continue
            EscalationPolicy.objects.create(
                **{**spec, "escalate_to": Group.objects.get(name=spec["escalate_to"])}
            )
            created += 1
    return created
