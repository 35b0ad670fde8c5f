"""An operator's ways in from admin: a manual start and the re-delivery of a stored event, both
through `ingest_event`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from integrations.digests import canonical_json
from integrations.models import Channel, EventType, InboundEvent
from integrations.services.ingestion import REDELIVER_PERMISSION, Caller, IngestResult, ingest_event
from opscore.actors import Actor
from opscore.api_errors import Problem
from privacy import sealing


def start_manually(
    *,
    event_type: EventType,
    payload: dict[str, Any],
    correlation_key: str,
    idempotency_key: str,
    occurred_at: datetime,
    user,
) -> IngestResult:
    """The admin's manual start: an event from the `admin` source, through the same path.

    The form carries its key and the moment it was opened, so submitting it twice is the same
    request twice and starts one instance. The key lives in `admin:<username>`, so it can
    never answer for, or block, an integration's or another person's key; the user needs
    `integrations.start_workflow_manually` (checked with the event type, and recorded when
    refused).
    """
    envelope = {
        "type": event_type.name,
        "source": "admin",
        "occurred_at": occurred_at.isoformat(),
        "correlation_key": correlation_key or None,
        "payload": payload,
    }
    return ingest_event(
        body=canonical_json(envelope).encode(),
        idempotency_key=idempotency_key,
        caller=Caller.for_staff(user, channel=Channel.ADMIN),
    )


def redeliver_inbound_event(*, event: InboundEvent, user, new_key: bool) -> IngestResult:
    """Replay a stored event's trigger.

    With its own key deduplication applies and the first response comes back (nothing new is
    written). With `new_key` the operator asks for a second delivery: a new inbound event,
    channel `redelivery`, pointing at the original and naming the operator. Either way the
    event stays in its original namespace (its stored `source`), and the operator needs
    `integrations.redeliver_inboundevent`.
    """
    # Rebuilt as it was sent: the same body hashes the same, and is validated and sealed anew.
    payload = sealing.reveal(event.payload)
    if sealing.has_erased(event.payload):
        raise Problem(
            status=409,
            code="personal_data_erased",
            title="Personal data erased",
            detail="this event's personal data was erased; it can no longer be re-delivered",
        )
    envelope = {
        "type": event.type,
        "source": event.source,
        "occurred_at": event.occurred_at.isoformat(),
        "correlation_key": event.correlation_key or None,
        "payload": payload,
    }
    caller = Caller(
        channel=Channel.REDELIVERY,
        actor=Actor.for_user(user),
        may_send=lambda type_: user.has_perm(REDELIVER_PERMISSION),
        namespace=event.source,
    )
    if not new_key:
        return ingest_event(
            body=canonical_json(envelope).encode(),
            idempotency_key=event.idempotency_key,
            caller=caller,
        )
    key = f"{event.idempotency_key[:200]}:redelivery:{uuid.uuid4().hex[:16]}"
    return ingest_event(
        body=canonical_json(envelope).encode(),
        idempotency_key=key,
        caller=caller,
        redelivery_of=event,
    )
