"""Appending to the event log (only the workflow engine calls this) and anchoring it."""

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
        write_pending_events(connection)
    return event


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
