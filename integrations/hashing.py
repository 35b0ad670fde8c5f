"""Digests the trigger layer compares: API keys, request bodies, idempotency lock ids."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def canonical_json(value: Any) -> str:
    # Sorted keys and no whitespace: two bodies that mean the same hash the same, so a client
    # re-serialising its retry differently is still recognised as the same request.
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder
    )


def request_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def advisory_lock_id(*, source: str, idempotency_key: str) -> int:
    """A signed 64-bit id for pg_try_advisory_xact_lock, derived from (source, key)."""
    digest = hashlib.sha256(f"{source}\x00{idempotency_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
