"""The chain's canonical encoding is json.dumps's, byte for byte, whatever the fast path."""

import hashlib
import json
from datetime import UTC, datetime

import pytest

from audit.hashing import _encode, canonical_body, canonical_time, event_hash

TRICKY = {
    "zeta": [1, 2.5, -0.0, 1e16, 12345678901234567890, None, True],
    "älpha": 'naïve \u2028 "quoted" \\ tab\t 🚚',
    "nested": {"b": {"d": 1, "c": [{"y": 1, "x": 2}]}, "a": ""},
    "10": "keys sort as text",
    "9": 0.1,
}
AT = "2026-11-29T07:00:00.000005+00:00"


def _dumps(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_the_encoding_is_json_dumps_sorted_compact_and_unescaped():
    assert _encode(TRICKY) == _dumps(TRICKY)


@pytest.mark.parametrize("key_id", ["", "k1"])
@pytest.mark.parametrize(
    ("instance_type_id", "instance_id", "actor_ref", "type_"),
    [
        (None, None, "engine", "workflow.started"),
        (3, 42, 'José "the reviewer" \\ \n', "config.apikey.rotated"),
        (0, 2**62, "", "ünïcode.type\u2028"),
    ],
)
def test_the_written_out_body_is_json_dumps_of_the_dict(
    key_id, instance_type_id, instance_id, actor_ref, type_
):
    fields = {
        "seq": 123456789,
        "occurred_at": AT,
        "recorded_at": AT,
        "type": type_,
        "instance_type_id": instance_type_id,
        "instance_id": instance_id,
        "actor_kind": "user",
        "actor_ref": actor_ref,
        "payload": TRICKY,
        "prev_hash": "f" * 64,
    }
    expected = _dumps({**fields, "key_id": key_id} if key_id else fields)

    assert canonical_body(*fields.values(), key_id) == expected


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

    assert event_hash(**fields) == hashlib.sha256(_dumps(body).encode()).hexdigest()
    assert canonical_time(at) == AT
