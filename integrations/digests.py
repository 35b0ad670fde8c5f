"""Digests the trigger layer compares: API keys, request bodies, idempotency lock ids."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def canonical_json(value: Any) -> str:
    # Sorted keys and no whitespace: two bodies that mean the same hash the same, so a client
    # re-serialising its retry differently is still recognised as the same request.
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder
    )
    if _LONE_SURROGATE.search(text):
        # Not encodable as UTF-8: escaped, the text still encodes (and hashes), and the strict
        # parser on the way in refuses it with a precise problem instead of a crash here.
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, cls=DjangoJSONEncoder
        )
    return text


def request_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def advisory_lock_id(*, source: str, idempotency_key: str) -> int:
    """A signed 64-bit id for pg_try_advisory_xact_lock, derived from (source, key)."""
    digest = hashlib.sha256(f"{source}\x00{idempotency_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
