"""Appending to the event log. Only the workflow engine calls this."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from audit.hashing import GENESIS_HASH, event_hash, normalize_payload
from audit.models import ChainHead, Event
from opscore.actors import Actor


def append_event(
    *,
    type: str,
    actor: Actor,
    payload: dict[str, Any],
    instance: models.Model | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """Append one event to the chain.

    Must run inside the caller's transaction: the event commits or rolls back with the change
    it records. The chain head row lock orders concurrent appends, so sequence numbers are
    gapless and each row's prev_hash is the hash of the row before it.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("append_event must run inside the transaction of the change it records")
    head = ChainHead.objects.select_for_update().filter(pk=1).values_list("last_seq", "last_hash")
    last_seq, last_hash = head.first() or _create_chain_head()
    recorded_at = timezone.now()
    instance_type_id = (
        ContentType.objects.get_for_model(instance, for_concrete_model=True).pk
        if instance is not None
        else None
    )
    fields: dict[str, Any] = {
        "seq": last_seq + 1,
        "occurred_at": occurred_at or recorded_at,
        "recorded_at": recorded_at,
        "type": type,
        "instance_type_id": instance_type_id,
        "instance_id": instance.pk if instance is not None else None,
        "actor_kind": actor.kind,
        "actor_ref": actor.ref,
        "payload": normalize_payload(payload),
        "prev_hash": last_hash,
    }
    event = Event(**fields, hash=event_hash(**fields))
    event.save(force_insert=True)
    ChainHead.objects.filter(pk=1).update(last_seq=event.seq, last_hash=event.hash)
    return event


def _create_chain_head() -> tuple[int, str]:
    # The migration creates the head; only an emptied database (a test flush) lacks it.
    ChainHead.objects.create(pk=1, last_seq=0, last_hash=GENESIS_HASH)
    return 0, GENESIS_HASH
