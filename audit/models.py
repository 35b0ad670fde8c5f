"""The event log: append-only, hash-chained; every other table is a projection of it."""

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class ActorKind(models.TextChoices):
    USER = "user", "User"
    INTEGRATION = "integration", "Integration"
    SYSTEM = "system", "System"


class Event(models.Model):
    seq = models.BigIntegerField(primary_key=True, verbose_name="sequence")
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField()
    type = models.CharField(max_length=100, db_index=True)
    instance_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    instance_id = models.PositiveBigIntegerField(null=True, blank=True)
    instance = GenericForeignKey("instance_type", "instance_id")
    actor_kind = models.CharField(max_length=20, choices=ActorKind.choices)
    actor_ref = models.CharField(max_length=150)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # The id of the audit key whose HMAC `hash` is (audit/keys.py); "" marks an event written
    # before the chain was keyed, hashed with plain SHA-256.
    key_id = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        db_table = "audit_event"
        ordering = ["seq"]
        indexes = [
            models.Index(
                fields=["instance_type", "instance_id", "seq"], name="audit_event_instance"
            ),
            # Counts of one kind of event over a time window (the overview's throughput and SLA
            # charts) read a range of this index, not the whole log.
            models.Index(fields=["type", "occurred_at"], name="audit_event_type_time"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.type}"


class ChainHead(models.Model):
    """The last sequence number and hash; locking this row serializes appends."""

    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    class Meta:
        db_table = "audit_chain_head"

    def __str__(self) -> str:
        return f"chain head at #{self.last_seq}"
