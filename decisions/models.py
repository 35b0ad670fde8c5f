"""Rule sets, their versions, the decisions made with them, backtests and overrides."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords


class RuleSet(models.Model):
    """A named decision (e.g. which carrier ships an order); its versions hold the rules."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["slug"]
        permissions = [
            ("author_ruleset", "Can start and edit rule set drafts, and take one back"),
            ("submit_ruleset", "Can submit a rule set draft for review"),
            ("backtest_ruleset", "Can run a backtest of a rule set version"),
            ("publish_ruleset", "Can publish, retire and roll back rule set versions"),
        ]

    def __str__(self) -> str:
        return self.slug


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"


class RuleSetVersion(models.Model):
    """One version of a rule set's decision model (a GoRules JDM graph).

    Only a draft's content changes; from review on it is frozen, so a decision recorded
    against a version can always be re-evaluated to the same answer.
    """

    rule_set = models.ForeignKey(RuleSet, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=20, choices=VersionStatus.choices, default=VersionStatus.DRAFT
    )
    content = models.JSONField(help_text="The JDM graph zen-engine evaluates.")
    content_digest = models.CharField(max_length=64)
    note = models.TextField(blank=True, help_text="What changed and why.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["rule_set", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["rule_set", "number"], name="ruleset_version_number"),
            models.UniqueConstraint(
                fields=["rule_set"],
                condition=Q(status="published"),
                name="ruleset_one_published_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_set.slug} v{self.number} ({self.get_status_display().lower()})"


class DecisionRecord(models.Model):
    """One evaluation of a published version: enough to explain and reproduce it."""

    rule_set = models.ForeignKey(RuleSet, on_delete=models.PROTECT, related_name="decisions")
    version = models.ForeignKey(RuleSetVersion, on_delete=models.PROTECT, related_name="decisions")
    inputs = models.JSONField(encoder=DjangoJSONEncoder)
    outputs = models.JSONField(encoder=DjangoJSONEncoder)
    matched_rules = models.JSONField(default=list, help_text="From the engine's trace.")
    primary_rule_id = models.CharField(
        max_length=100, blank=True, help_text="The first matched row; overrides count against it."
    )
    duration_us = models.PositiveIntegerField(help_text="Engine time in microseconds.")
    instance_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    instance_id = models.PositiveBigIntegerField(null=True, blank=True)
    instance = GenericForeignKey("instance_type", "instance_id")
    step = models.CharField(max_length=100, blank=True)
    idempotency_key = models.CharField(
        max_length=250,
        blank=True,
        help_text="A retried step reuses its first decision: its answer cannot change mid-step.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="decision_once_per_key",
            )
        ]
        indexes = [
            models.Index(fields=["rule_set", "-created_at"], name="decision_ruleset_recent"),
            models.Index(fields=["instance_type", "instance_id"], name="decision_instance"),
            models.Index(fields=["rule_set", "primary_rule_id"], name="decision_rule"),
        ]

    def __str__(self) -> str:
        return f"decision {self.pk} by {self.rule_set.slug}"


class Backtest(models.Model):
    """A version evaluated against the inputs of past decisions, compared with their outputs."""

    version = models.ForeignKey(RuleSetVersion, on_delete=models.CASCADE, related_name="backtests")
    window = models.CharField(max_length=200, help_text="Which past decisions were replayed.")
    decisions_evaluated = models.PositiveIntegerField()
    changed = models.PositiveIntegerField()
    errors = models.PositiveIntegerField(default=0)
    breakdown = models.JSONField(default=list, help_text="[{from, to, count}] of changed outcomes.")
    samples = models.JSONField(default=list, help_text="Some changed decisions, to look at.")
    error_samples = models.JSONField(default=list)
    duration_ms = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"backtest of {self.version}: {self.changed}/{self.decisions_evaluated} change"


class Override(models.Model):
    """A person decided differently from what the matched rule recommended."""

    decision = models.ForeignKey(DecisionRecord, on_delete=models.PROTECT, related_name="overrides")
    rule_set = models.ForeignKey(RuleSet, on_delete=models.PROTECT, related_name="overrides")
    version = models.ForeignKey(RuleSetVersion, on_delete=models.PROTECT, related_name="overrides")
    rule_id = models.CharField(max_length=100, blank=True)
    recommended = models.JSONField(encoder=DjangoJSONEncoder)
    chosen = models.JSONField(encoder=DjangoJSONEncoder)
    reason = models.TextField()
    actor_ref = models.CharField(max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["rule_set", "rule_id"], name="override_rule")]

    def __str__(self) -> str:
        return f"override of {self.rule_set.slug} rule {self.rule_id or '?'}"


class RuleSetGeneration(models.Model):
    """One row whose value changes whenever a rule set's published version may have.

    Database triggers (migration 0003) set a new value on every write to rule sets (their
    slug) and versions (status, content, rule set); each process's cache of published
    versions (`decisions.published`) reads it before trusting what it holds.
    """

    value = models.BigIntegerField()

    class Meta:
        db_table = "decisions_ruleset_generation"

    def __str__(self) -> str:
        return f"rule set generation {self.value}"
