"""The chain's canonical encoding is json.dumps's, byte for byte, whatever the fast path."""

import hashlib
import json
from datetime import UTC, datetime

from audit.hashing import _encode, canonical_time, event_hash

TRICKY = {
    "zeta": [1, 2.5, -0.0, 1e16, 12345678901234567890, None, True],
    "älpha": 'naïve \u2028 "quoted" \\ tab\t 🚚',
    "nested": {"b": {"d": 1, "c": [{"y": 1, "x": 2}]}, "a": ""},
    "10": "keys sort as text",
    "9": 0.1,
}


def test_the_encoding_is_json_dumps_sorted_compact_and_unescaped():
    expected = json.dumps(TRICKY, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    assert _encode(TRICKY) == expected


def test_an_unkeyed_hash_is_sha256_of_that_encoding():
    at = datetime(2026, 11, 29, 7, 0, 0, 5, tzinfo=UTC)
    fields = {
        "seq": 7,
        "occurred_at": at,
        "recorded_at": at,
        "type": "step.completed",
        "instance_type_id": 3,
        "instance_id": 42,
        "actor_kind": "system",
        "actor_ref": "engine",
        "payload": TRICKY,
        "prev_hash": "0" * 64,
    }
    body = {**fields, "occurred_at": canonical_time(at), "recorded_at": canonical_time(at)}
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    assert event_hash(**fields) == hashlib.sha256(encoded.encode()).hexdigest()
    assert canonical_time(at) == "2026-11-29T07:00:00.000005+00:00"
