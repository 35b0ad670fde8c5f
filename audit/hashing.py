"""The canonical encoding of an event row and its chain hash.

A keyed event's hash is HMAC-SHA256 under the audit key it names (`key_id`, audit/keys.py),
and the key id is part of the hashed body. A legacy event (key id "") is plain SHA-256 of the
same encoding: anyone can compute it, so `verify_chain` accepts it only before the first
keyed event.
"""

from __future__ import annotations

import hashlib
import hmac
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
    key_id: str = "",
    key: bytes | None = None,
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
    if key_id:
        body["key_id"] = key_id
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if not key_id:
        return hashlib.sha256(encoded.encode("utf-8")).hexdigest()
    if key is None:
        raise ValueError(f"audit key {key_id!r} is needed to hash a keyed event")
    return hmac.digest(key, encoded.encode("utf-8"), "sha256").hex()
