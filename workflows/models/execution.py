"""Side effects (executions) and durable waits (timers): rows, never held processes."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from workflows.models.base import InstanceReference


class ExecutionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed, retry scheduled"
    DEAD = "dead", "Dead letter"
    SKIPPED = "skipped", "Skipped (instance moved on)"


class Execution(InstanceReference):
    """One side effect of one step of one instance, keyed so it can never act twice."""

    instance_version = models.PositiveIntegerField(
        help_text="The instance version that scheduled this step; its outcome applies only then."
    )
    step = models.CharField(max_length=100)
    idempotency_key = models.CharField(max_length=200, unique=True)
    request_id = models.CharField(
        max_length=128,
        blank=True,
        help_text="The request (or task) that scheduled this step: its log lines and outbound "
        "calls carry it, retries included.",
    )
    status = models.CharField(
        max_length=20, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    result = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="execution_due"),
            models.Index(fields=["status", "lease_expires_at"], name="execution_lease"),
            models.Index(fields=["instance_type", "instance_id"], name="execution_instance"),
        ]

    def __str__(self) -> str:
        return self.idempotency_key


class Timer(InstanceReference):
    """A wait with a due time; the sweeper fires it unless the instance moved on first."""

    instance_version = models.PositiveIntegerField()
    step = models.CharField(max_length=100)
    transition = models.CharField(max_length=100)
    due_at = models.DateTimeField()
    fired_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance_type", "instance_id", "step", "instance_version"],
                name="timer_once_per_visit",
            )
        ]
        indexes = [models.Index(fields=["fired_at", "due_at"], name="timer_due")]

    def __str__(self) -> str:
        return f"{self.step} due {self.due_at:%Y-%m-%d %H:%M}"
