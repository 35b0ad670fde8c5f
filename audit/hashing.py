"""The canonical encoding of an event row and its SHA-256 chain hash."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

GENESIS_HASH = "0" * 64


def normalize_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Return the payload as it will read back from the database.

    Hashing the round-tripped value means the stored row and the hashed row cannot drift
    apart (dates become strings, tuples become lists, Decimals become numbers).
    """
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def canonical_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(
    *,
    seq: int,
    occurred_at: datetime,
    recorded_at: datetime,
    type: str,
    instance_type_id: int | None,
    instance_id: int | None,
    actor_kind: str,
    actor_ref: str,
    payload: dict[str, Any],
    prev_hash: str,
) -> str:
    body = {
        "seq": seq,
        "occurred_at": canonical_time(occurred_at),
        "recorded_at": canonical_time(recorded_at),
        "type": type,
        "instance_type_id": instance_type_id,
        "instance_id": instance_id,
        "actor_kind": actor_kind,
        "actor_ref": actor_ref,
        "payload": payload,
        "prev_hash": prev_hash,
    }
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()
