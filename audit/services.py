"""Appending to the event log and anchoring it.

Three writers only: the workflow engine records transitions through `append_event`, every
change of configuration is recorded through `record_config_change`, and the observability
layer's alerts (opened, resolved, acknowledged) through `record_alert_event`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from audit.anchors import Checkpoint, append_line, latest_checkpoint
from audit.chaining import opscore_transaction_open, write_pending_events
from audit.hashing import normalize_payload
from audit.keys import signing_key
from audit.models import Event
from opscore.actors import Actor
from opscore.metrics import EVENTS_APPENDED


def append_event(
    *,
    type: str,
    actor: Actor,
    payload: dict[str, Any],
    instance: models.Model | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """Append one event to the log in the caller's transaction.

    Must run inside the transaction of the change it records: the event commits or rolls back
    with it. The event joins the hash chain when that transaction commits (see
    `audit.chaining`); until then its `seq` and `hash` are unset and it is not in the table.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("append_event must run inside the transaction of the change it records")
    event = Event(
        occurred_at=occurred_at,
        type=type,
        instance_type_id=(
            ContentType.objects.get_for_model(instance, for_concrete_model=True).pk
            if instance is not None
            else None
        ),
        instance_id=instance.pk if instance is not None else None,
        actor_kind=actor.kind,
        actor_ref=actor.ref,
        payload=normalize_payload(payload),
    )
    connection.pending_events.add(event)
    if not opscore_transaction_open(connection):
        # Only TestCase's never-committed blocks are open: there is no commit to wait for.
        EVENTS_APPENDED.inc(write_pending_events(connection))
    return event


CONFIG_CHANNELS = frozenset({"admin", "api", "command", "migration", "system"})

# The starts of the project's secret formats (API keys, webhook secrets) and of Django's
# password hashes. A configuration event carrying one is refused: the log cannot be edited to
# take a leaked secret out again, so a caller's slip must fail loudly, not be recorded.
SECRET_VALUE_PREFIXES = ("opk_", "whsec_", "pbkdf2_", "argon2", "bcrypt", "scrypt")


def _refuse_secret_values(value: Any, *, where: str) -> None:
    if isinstance(value, str):
        if value.startswith(SECRET_VALUE_PREFIXES):
            raise ValueError(f"{where} holds a secret value; record only that it changed")
    elif isinstance(value, dict):
        for name, item in value.items():
            _refuse_secret_values(item, where=f"{where}.{name}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _refuse_secret_values(item, where=f"{where}[{index}]")


def record_config_change(
    *,
    actor: Actor,
    channel: str,
    kind: str,
    action: str,
    target: models.Model | None,
    label: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> Event:
    """Record one change of configuration, in the transaction that makes it.

    `kind` names what was changed ("ruleset", "apikey", "group", ...) and `action` what
    happened to it ("created", "changed", "published", "rotated", "deleted", ...); the event
    type is `config.<kind>.<action>`. `before` and `after` are the fields as they were and are
    (None for a creation or a deletion); secrets never go in them, only that they changed.
    `label` is how a person names the object ("order-policy v3", "key carrier-prod"), kept
    so the record reads even after the object is deleted.
    """
    if channel not in CONFIG_CHANNELS:
        raise ValueError(f"unknown configuration channel {channel!r}")
    _refuse_secret_values({"label": label, "before": before, "after": after}, where="event")
    before_fields = normalize_payload(before) if before is not None else None
    after_fields = normalize_payload(after) if after is not None else None
    changed = sorted(
        name
        for name in set(before_fields or {}) | set(after_fields or {})
        if (before_fields or {}).get(name) != (after_fields or {}).get(name)
    )
    return append_event(
        type=f"config.{kind}.{action}",
        actor=actor,
        instance=target,
        payload={
            "channel": channel,
            "kind": kind,
            "action": action,
            "label": label,
            "before": before_fields,
            "after": after_fields,
            "changed": changed,
        },
    )


ALERT_ACTIONS = frozenset({"opened", "resolved", "acknowledged"})


def record_alert_event(
    *,
    actor: Actor,
    action: str,
    alert: models.Model,
    rule: str,
    kind: str,
    detail: dict[str, Any],
) -> Event:
    """Record one step of an alert's life, in the transaction that takes it.

    An alert is neither configuration nor a workflow transition, but who was told what and
    when (and who acknowledged it) belongs in the same log. The event type is
    `alert.<action>`; `rule` is the alert rule's name, kept so the record reads after a rename;
    `detail` is what the evaluation saw (counts, ages, offenders), never a secret.
    """
    if action not in ALERT_ACTIONS:
        raise ValueError(f"unknown alert action {action!r}")
    return append_event(
        type=f"alert.{action}",
        actor=actor,
        instance=alert,
        payload={"rule": rule, "kind": kind, "detail": detail},
    )


def write_checkpoint() -> Checkpoint | None:
    """Append the chain's last sequence number and hash, signed, to the anchor file.

    Reads the last committed event, not the head row, so a checkpoint vouches only for rows
    that exist. Writes nothing when the log is empty or unchanged since the last checkpoint.
    Returns the checkpoint written, or None.
    """
    last = Event.objects.order_by("-seq").values_list("seq", "hash").first()
    if last is None:
        return None
    seq, hash = last
    previous = latest_checkpoint()
    if previous is not None and (previous.seq, previous.hash) == (seq, hash):
        return None
    key_id, key = signing_key()
    checkpoint = Checkpoint(seq=seq, hash=hash, at=timezone.now().isoformat(), key_id=key_id)
    append_line(checkpoint, key=key)
    return checkpoint
