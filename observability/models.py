"""Alert rules (configuration, versioned) and the alerts they open."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords


class AlertKind(models.TextChoices):
    DEAD_LETTERS = "dead_letters", "Dead letters present"
    CLUSTER_SILENT = "cluster_silent", "Worker cluster silent"
    SWEEPER_STALE = "sweeper_stale", "Sweeper stale"
    SLA_BREACH_RATE = "sla_breach_rate", "SLA breach rate over threshold (per queue)"
    REJECTION_SPIKE = "rejection_spike", "Rejection spike (per integration)"
    AUTH_FAILURE_STORM = "auth_failure_storm", "401 storm (per integration)"
    STUCK_INSTANCES = "stuck_instances", "Stuck instances (per workflow)"
    AUDIT_VERIFY_FAILED = "audit_verify_failed", "Audit verification failed"
    PROJECTION_CHECK_FAILED = "projection_check_failed", "Projection check failed"


class AlertRule(models.Model):
    """One condition worth waking someone for; evaluated on a schedule.

    The scope fields narrow a rule to one workflow, queue or integration; blank means all.
    What `threshold` and `window` mean depends on the kind (a count, a rate, an age).
    """

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=40, choices=AlertKind.choices)
    workflow = models.CharField(max_length=50, blank=True, help_text="Workflow name; blank: all.")
    queue = models.ForeignKey(
        Group,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Review queue (group); blank: all queues.",
    )
    integration = models.CharField(
        max_length=100, blank=True, help_text="Integration name; blank: all integrations."
    )
    threshold = models.FloatField(null=True, blank=True)
    window = models.DurationField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    notify_group = models.ForeignKey(
        Group,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who is emailed when the alert opens and resolves (the on-call group).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Alert(models.Model):
    """An alert rule's condition holding: opened once, open while it holds, then resolved."""

    rule = models.ForeignKey(AlertRule, on_delete=models.PROTECT, related_name="alerts")
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # What the evaluation saw when it opened and last held (counts, ages, the offenders).
    detail = models.JSONField(default=dict)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule"],
                condition=Q(resolved_at__isnull=True),
                name="one_open_alert_per_rule",
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule} since {self.opened_at:%Y-%m-%d %H:%M:%S %Z}"


class CheckName(models.TextChoices):
    VERIFY_AUDIT = "verify_audit", "Audit chain verification"
    PROJECTION_CHECK = "projection_check", "Projection check"


class CheckRun(models.Model):
    """One run of a consistency check (verify_audit, the projection check) and its result.

    The checks run on a schedule and from the command line; their latest result feeds the
    alert rules and the metrics, so a failed verification is seen without reading a log.
    """

    name = models.CharField(max_length=40, choices=CheckName.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField()
    # What the check reported: events checked, the first bad sequence, mismatches.
    detail = models.JSONField(default=dict)

    class Meta:
        ordering = ["-finished_at"]
        indexes = [models.Index(fields=["name", "-finished_at"], name="checkrun_latest")]

    def __str__(self) -> str:
        return f"{self.get_name_display()} {'ok' if self.ok else 'FAILED'} at {self.finished_at}"


class ReportAccess(models.Model):
    """No rows and no table: it holds the permission to read reports and recurring patterns
    in admin (observability.view_reports), which belongs to no model of its own."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_reports", "Can view operations reports and recurring patterns")]

    def __str__(self) -> str:
        return "report access"
