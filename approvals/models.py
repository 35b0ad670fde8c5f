"""Review tasks (one per visit of a human step), their escalation policies and notifications."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from workflows.models.base import InstanceReference


class EscalationPolicy(models.Model):
    """How long a human step may wait, who is reminded and who it escalates to.

    Versioned configuration: every change is kept in its history, and a task copies the
    policy it was opened under (`ReviewTask.policy_snapshot`), so editing a policy never
    rewrites the deadlines of tasks already waiting.
    """

    workflow = models.CharField(max_length=100)
    step = models.CharField(max_length=100)
    sla = models.DurationField(help_text="How long a task may wait before it escalates.")
    business_hours = models.JSONField(
        null=True,
        blank=True,
        help_text='Optional calendar the SLA counts in, e.g. {"timezone": "Europe/London", '
        '"weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}. Empty: around the clock.',
    )
    reminder_before = models.DurationField(
        null=True, blank=True, help_text="Remind the assignee (or the queue) this long before."
    )
    escalate_to = models.ForeignKey(
        Group, on_delete=models.PROTECT, related_name="+", help_text="Level 1, at the deadline."
    )
    further_levels = models.JSONField(
        default=list,
        blank=True,
        help_text='Later levels, each after the previous one: [{"after_minutes": 240, '
        '"escalate_to": "managers"}].',
    )
    expire_after = models.DurationField(
        null=True,
        blank=True,
        help_text="After the last level, expire the task (and reject the step) this long after. "
        "Empty: never expires.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "escalation policies"
        ordering = ["workflow", "step"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "step"], name="escalation_policy_per_step")
        ]

    def __str__(self) -> str:
        return f"{self.workflow} / {self.step}"

    def clean(self) -> None:
        """Every escalate-to group can decide the step: a level whose members could claim the
        task but never approve or reject it would strand it until it expires."""
        from approvals.permissions import missing_review_permissions, review_permissions
        from workflows.registry import UnknownWorkflow

        try:
            review_permissions(workflow=self.workflow, step=self.step)
        except (UnknownWorkflow, KeyError) as error:
            raise ValidationError(
                {"step": f"no human step {self.step!r} in {self.workflow!r}"}
            ) from error
        levels = []
        if self.escalate_to_id:
            levels.append(("escalate_to", self.escalate_to))
        for level in self.further_levels if isinstance(self.further_levels, list) else []:
            name = level.get("escalate_to") if isinstance(level, dict) else None
            group = Group.objects.filter(name=name).first() if isinstance(name, str) else None
            if group is not None:
                levels.append(("further_levels", group))
        errors: dict[str, list[str]] = {}
        for field, group in levels:
            missing = missing_review_permissions(group, workflow=self.workflow, step=self.step)
            if missing:
                errors.setdefault(field, []).append(
                    f"group {group.name!r} cannot decide {self.step!r}: it lacks "
                    + ", ".join(sorted(missing))
                )
        if errors:
            raise ValidationError(errors)


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLAIMED = "claimed", "Claimed"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (TaskStatus.OPEN, TaskStatus.CLAIMED)


class ReviewTask(InstanceReference):
    """One visit of a human step by one instance: the durable wait a reviewer works."""

    instance_version = models.PositiveIntegerField(
        help_text="The instance version that opened the task; a decision applies only to it."
    )
    title = models.CharField(
        max_length=250, help_text="The instance as listed, copied so lists need no join."
    )
    workflow = models.CharField(max_length=100)
    step = models.CharField(max_length=100)
    queue = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="review_tasks")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="review_tasks",
    )
    status = models.CharField(max_length=20, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    # Computed by the database from status: the queues filter on one value, so an index on
    # (queue, active, due_at) serves "waiting tasks of this queue, soonest due first" in order.
    # 1 or 0 rather than a boolean: Django renders `boolean=True` as a bare `WHERE active`,
    # which SQLite cannot match to an index column.
    active = models.GeneratedField(
        expression=models.Case(
            models.When(status__in=["open", "claimed"], then=models.Value(1)),
            default=models.Value(0),
        ),
        output_field=models.PositiveSmallIntegerField(),
        db_persist=True,
    )
    opened_at = models.DateTimeField()
    due_at = models.DateTimeField(help_text="The SLA deadline.")
    reminder_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    next_action_at = models.DateTimeField(
        null=True, blank=True, help_text="When the sweeper next looks at it (reminder, escalation)."
    )
    escalation_level = models.PositiveSmallIntegerField(default=0)
    escalated_to = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.PROTECT, related_name="escalated_tasks"
    )
    escalated_at = models.DateTimeField(null=True, blank=True)
    # Every level so far, not only the current one: an earlier level keeps sight of the task
    # (and may still decide it) after it goes further up.
    escalated_groups = models.ManyToManyField(Group, blank=True, related_name="+")
    policy = models.ForeignKey(
        EscalationPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    policy_snapshot = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    outcome = models.CharField(max_length=100, blank=True, help_text="The transition it took.")
    reason = models.TextField(blank=True)
    information_requested = models.TextField(blank=True)
    information_requested_at = models.DateTimeField(null=True, blank=True)
    # The requester's answer to the latest request; while it is missing the task is with the
    # requester and out of the working queues (approvals.selectors.AWAITING_INFORMATION).
    information_answer = models.TextField(blank=True)
    information_answered_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at", "id"]
        permissions = [("work_reviewtask", "Can work review tasks in their groups' queues")]
        constraints = [
            models.UniqueConstraint(
                fields=["instance_type", "instance_id", "step", "instance_version"],
                name="review_task_once_per_visit",
            ),
        ]
        indexes = [
            # The queues: by group, by assignee, unassigned, overdue, escalated; each read in
            # due order straight from its index, so a page never sorts the whole queue.
            models.Index(fields=["queue", "active", "due_at", "id"], name="task_queue"),
            models.Index(fields=["assignee", "active", "due_at", "id"], name="task_assignee"),
            models.Index(fields=["active", "due_at", "id"], name="task_due"),
            models.Index(fields=["escalated_to", "active", "due_at", "id"], name="task_escalated"),
            models.Index(fields=["active", "next_action_at"], name="task_sweep"),
            models.Index(fields=["instance_type", "instance_id"], name="task_instance"),
        ]

    def __str__(self) -> str:
        return f"{self.step}: {self.title}"

    @property
    def is_active(self) -> bool:
        # Not `active`: that column is only refreshed from the database after a save.
        return self.status in ACTIVE_STATUSES

    @property
    def awaiting_information(self) -> bool:
        return self.information_requested_at is not None and self.information_answered_at is None


class NotificationKind(models.TextChoices):
    REMINDER = "reminder", "Reminder"
    ESCALATION = "escalation", "Escalation"
    EXPIRY = "expiry", "Expiry"
    INFORMATION_REQUEST = "information_request", "Information request"


class TaskNotification(models.Model):
    """An email owed; unique per task, kind and level, so it is sent once. For an information
    request the level counts the task's requests: the first is 1."""

    task = models.ForeignKey(ReviewTask, on_delete=models.PROTECT, related_name="notifications")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    level = models.PositiveSmallIntegerField(default=0)
    recipients = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="An attempt is being sent: nobody else sends it before then (a sender that "
        "died mid-send is retried after it).",
    )
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "kind", "level"], name="task_notification_once")
        ]
        indexes = [
            models.Index(
                fields=["created_at"], condition=Q(sent_at__isnull=True), name="notification_unsent"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} (level {self.level}) for task {self.task_id}"


class MyTask(ReviewTask):
    class Meta:
        proxy = True
        verbose_name = "my task"
        verbose_name_plural = "my tasks"


class TeamTask(ReviewTask):
    class Meta:
        proxy = True
        verbose_name = "team task"
        verbose_name_plural = "my team's queue"


class UnassignedTask(ReviewTask):
    class Meta:
        proxy = True
        verbose_name = "unassigned task"
        verbose_name_plural = "unassigned"


class OverdueTask(ReviewTask):
    class Meta:
        proxy = True
        verbose_name = "overdue task"
        verbose_name_plural = "overdue"


class EscalatedTask(ReviewTask):
    class Meta:
        proxy = True
        verbose_name = "escalated task"
        verbose_name_plural = "escalated"
