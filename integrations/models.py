"""The trigger layer's records: who may call, what may come in, what came, what was refused."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class Integration(models.Model):
    """An outside system that sends events; its API keys and its service user hang off it."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.PROTECT,
        related_name="integration",
        help_text="Service account the API authenticates this integration as (never staff).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Scope(models.TextChoices):
    """Endpoints an API key may use; the event types it may send are listed separately."""

    EVENTS_WRITE = "events:write", "Send events (POST /api/v1/events)"
    INBOUND_READ = "inbound:read", "Read inbound events"
    INSTANCES_READ = "instances:read", "Read the workflow instances its events reached"
    EXECUTIONS_READ = "executions:read", "Read executions of the instances it may read"
    # Widens instances:read and executions:read (it grants neither endpoint by itself):
    # for a reporting integration that must see every instance, whoever sent it.
    INSTANCES_READ_ALL = "instances:read_all", "Read every integration's instances (widens reads)"


class ApiKey(models.Model):
    """Stored as a SHA-256 digest: the key has 256 random bits, so a slow hash buys nothing."""

    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list, blank=True, help_text="Endpoints, e.g. events:write.")
    event_types = models.JSONField(
        default=list, blank=True, help_text='Event types it may send; ["*"] for every type.'
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    replaced_by = models.OneToOneField(
        "self", null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]
        permissions = [
            ("rotate_apikey", "Can rotate an API key (and read the new key once)"),
            ("revoke_apikey", "Can revoke an API key"),
        ]

    def __str__(self) -> str:
        return f"{self.integration} {self.prefix}…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def allows_event_type(self, event_type: str) -> bool:
        return "*" in self.event_types or event_type in self.event_types


class EventType(models.Model):
    """A kind of event opscore accepts, with the JSON Schema its payload must satisfy."""

    name = models.CharField(max_length=100, unique=True, help_text="e.g. order.received")
    description = models.TextField(blank=True)
    schema = models.JSONField(default=dict, help_text="JSON Schema (2020-12) for the payload.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BindingAction(models.TextChoices):
    START = "start", "Start a workflow"
    SIGNAL = "signal", "Signal the instance found by correlation key"


class TriggerBinding(models.Model):
    """Where an accepted event goes: one binding per event type, so it reaches one instance."""

    event_type = models.OneToOneField(EventType, on_delete=models.CASCADE, related_name="binding")
    action = models.CharField(max_length=10, choices=BindingAction.choices)
    workflow = models.CharField(max_length=100, help_text="A registered workflow name.")
    transition = models.CharField(
        max_length=100, blank=True, help_text="For signal: the transition to apply."
    )
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        target = f"{self.workflow}.{self.transition}" if self.transition else self.workflow
        return f"{self.event_type} -> {self.action} {target}"

    def clean(self) -> None:
        errors = binding_errors(
            action=self.action, workflow=self.workflow, transition=self.transition
        )
        if errors:
            raise ValidationError(errors)


def binding_errors(*, action: str, workflow: str, transition: str) -> dict[str, str]:
    """Why a binding may not exist, by field: a start names none, a signal only a transition
    its workflow declares for outside callers (a wait step's signal), never a human step's
    decision or a machine step's outcome. Shared by `clean()` and the start-up check."""
    from workflows import registry

    try:
        definition = registry.get(workflow)
    except registry.UnknownWorkflow:
        return {"workflow": f"no registered workflow {workflow!r}"}
    if action == BindingAction.START:
        if transition:
            return {"transition": "a start binding names no transition"}
        return {}
    if action != BindingAction.SIGNAL:
        return {"action": f"unknown action {action!r}"}
    signals = definition.signals()
    if transition not in signals:
        return {
            "transition": f"{transition!r} is not a signal of the {workflow} workflow; "
            f"a binding may only signal {', '.join(sorted(signals)) or 'nothing'}"
        }
    return {}


class Channel(models.TextChoices):
    API = "api", "REST API"
    WEBHOOK = "webhook", "Signed webhook"
    SCHEDULE = "schedule", "Schedule"
    ADMIN = "admin", "Admin (manual start)"
    REDELIVERY = "redelivery", "Admin re-delivery"


class InboundStatus(models.TextChoices):
    ROUTED = "routed", "Accepted, reached an instance"
    STORED = "stored", "Accepted, no binding for its type"


class InboundEvent(models.Model):
    """One accepted event, unique by (source, idempotency key); never changed after insert.

    The id is made before the insert so the row can be written once, complete, after routing:
    that is what makes it immutable rather than updated with its outcome.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    source = models.CharField(max_length=100)
    idempotency_key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the canonical body.")
    type = models.CharField(max_length=100, db_index=True)
    occurred_at = models.DateTimeField()
    correlation_key = models.CharField(max_length=200, blank=True)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=10, choices=InboundStatus.choices)
    integration = models.ForeignKey(
        Integration, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_ref = models.CharField(max_length=150)
    workflow = models.CharField(max_length=100, blank=True)
    instance_id = models.PositiveBigIntegerField(null=True, blank=True)
    transition = models.CharField(max_length=100, blank=True)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(encoder=DjangoJSONEncoder)
    redelivery_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="redeliveries"
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        permissions = [
            ("redeliver_inboundevent", "Can re-deliver an inbound event under a new key"),
            ("start_workflow_manually", "Can start a workflow from admin"),
            ("send_event", "Can send events through the API with a staff session"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "idempotency_key"], name="inbound_event_once_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} from {self.source} ({self.idempotency_key})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("inbound events are immutable")
        super().save(*args, **kwargs)


class Rejection(models.Model):
    """A refused request, recorded after the attempted work was rolled back."""

    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    source = models.CharField(max_length=100, blank=True)
    integration = models.ForeignKey(
        Integration, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event_type = models.CharField(max_length=100, blank=True)
    idempotency_key = models.CharField(max_length=255, blank=True)
    status = models.PositiveSmallIntegerField()
    problem = models.CharField(max_length=60, help_text="The problem type's code.")
    detail = models.TextField()
    errors = models.JSONField(default=list, blank=True)
    body_excerpt = models.TextField(blank=True, help_text="The first 4 KB of the request body.")
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    authenticated = models.BooleanField(
        default=True, help_text="False: refused before the caller was identified."
    )
    count = models.PositiveIntegerField(
        default=1, help_text="Requests this row stands for (unauthenticated refusals aggregate)."
    )
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            # The aggregation window's lookup, on unauthenticated refusals only.
            models.Index(
                fields=["channel", "client_ip", "problem", "-received_at"],
                condition=models.Q(authenticated=False),
                name="rejection_unauth_window",
            )
        ]

    def __str__(self) -> str:
        return f"{self.status} {self.problem} ({self.channel})"


class WebhookSource(models.Model):
    """A sender of Standard Webhooks; several secrets may be active while one is rotated."""

    name = models.SlugField(max_length=100, unique=True)
    integration = models.ForeignKey(
        Integration, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    event_types = models.JSONField(
        default=list, blank=True, help_text='Event types it may send; ["*"] for every type.'
    )
    correlation_field = models.CharField(
        max_length=100,
        default="correlation_key",
        help_text="Key inside the webhook's data holding the correlation key.",
    )
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name

    def allows_event_type(self, event_type: str) -> bool:
        return "*" in self.event_types or event_type in self.event_types


class WebhookSecret(models.Model):
    """Kept readable: HMAC verification needs the secret itself, not a digest of it."""

    source = models.ForeignKey(WebhookSource, on_delete=models.CASCADE, related_name="secrets")
    secret = models.CharField(max_length=200, help_text="whsec_<base64>")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        # Never any part of the secret: this string reaches admin pages, logs and events.
        return f"{self.source} secret #{self.pk}"


class Schedule(models.Model):
    """A recurring trigger: on each cron slot it emits one event through ingestion."""

    name = models.SlugField(max_length=100, unique=True)
    event_type = models.ForeignKey(EventType, on_delete=models.PROTECT, related_name="+")
    cron = models.CharField(max_length=100, help_text="Cron expression, server time zone.")
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    correlation_key = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    q_schedule = models.OneToOneField(
        "django_q.Schedule",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LookupGeneration(models.Model):
    """One row whose value changes whenever what authentication and ingestion look up does.

    Database triggers (migration 0006) set a new value on every write to API keys, their
    integrations and service users, event types and trigger bindings, whatever wrote it (a
    service, admin, a bulk update, raw SQL). Each process caches those lookups and reads this
    row once per request: an unchanged value means the cache is exact, a new one empties it
    (`integrations.lookups`). The value is never reused, so a rolled-back change cannot make
    a stale cache look current.
    """

    value = models.BigIntegerField()

    class Meta:
        db_table = "integrations_lookup_generation"

    def __str__(self) -> str:
        return f"lookup generation {self.value}"
