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
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

try:  # OpenSSL's HMAC, what the hmac module uses when it can
    import _hashlib
except ImportError:  # pragma: no cover - CPython without OpenSSL
    _hashlib = None

GENESIS_HASH = "0" * 64


def normalize_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Return the payload as it will read back from the database.

    Hashing the round-tripped value means the stored row and the hashed row cannot drift
    apart (dates become strings, tuples become lists, Decimals become numbers).
    """
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def canonical_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _make_encode() -> Callable[[dict[str, Any]], str]:
    """`json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`, faster.

    json.dumps builds a new encoder on every call, a third of the cost of verifying an event;
    this builds CPython's C encoder once (the same one json.dumps ends up in, so the same
    text) and falls back to a reused JSONEncoder where there is none.
    """
    encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:
        return encoder.encode
    iterencode = c_make_encoder(
        None, encoder.default, json.encoder.encode_basestring, None, ":", ",", True, False, True
    )
    join = "".join
    return lambda body: join(iterencode(body, 0))


_encode = _make_encode()
# json's string encoder under ensure_ascii=False (the C one where there is one).
_string = json.encoder.encode_basestring
_sha256 = hashlib.sha256
# An HMAC's key setup costs two SHA-256 blocks, more than hashing a short event: keep one
# keyed state per key and copy it for each event (OpenSSL's HMAC where CPython has it).
_hmac_new = getattr(_hashlib, "hmac_new", None)
_hmac_states: dict[bytes, Any] = {}


def _hmac_state(key: bytes) -> Any:
    state = _hmac_states.get(key)
    if state is None:
        if len(_hmac_states) > 32:  # keys rotate rarely; tests make many
            _hmac_states.clear()
        if _hmac_new is not None:
            state = _hmac_new(key, digestmod="sha256")
        else:  # pragma: no cover - CPython without OpenSSL
            state = hmac.new(key, digestmod=hashlib.sha256)
        _hmac_states[key] = state
    return state


def _id(value: int | None) -> str:
    return "null" if value is None else int.__repr__(value)


def canonical_body(
    seq: int,
    occurred_at: str,
    recorded_at: str,
    type: str,
    instance_type_id: int | None,
    instance_id: int | None,
    actor_kind: str,
    actor_ref: str,
    payload: dict[str, Any],
    prev_hash: str,
    key_id: str,
) -> str:
    """The hashed text of an event: what `json.dumps` gives for the dict of these fields
    (`key_id` only when set) with `sort_keys=True, separators=(",", ":"),
    ensure_ascii=False`, written out in that key order with json's own string encoder.

    Half the cost of building the dict and encoding it, for `verify_chain`'s millions of
    rows; tests/audit/test_hashing.py holds it to json.dumps byte for byte.
    """
    string = _string
    return (
        f'{{"actor_kind":{string(actor_kind)},"actor_ref":{string(actor_ref)},'
        f'"instance_id":{_id(instance_id)},"instance_type_id":{_id(instance_type_id)},'
        + (f'"key_id":{string(key_id)},' if key_id else "")
        + f'"occurred_at":{string(occurred_at)},"payload":{_encode(payload)},'
        f'"prev_hash":{string(prev_hash)},"recorded_at":{string(recorded_at)},'
        f'"seq":{int.__repr__(seq)},"type":{string(type)}}}'
    )


def canonical_hash(
    seq: int,
    occurred_at: str,
    recorded_at: str,
    type: str,
    instance_type_id: int | None,
    instance_id: int | None,
    actor_kind: str,
    actor_ref: str,
    payload: dict[str, Any],
    prev_hash: str,
    key_id: str,
    key: bytes | None,
) -> str:
    """The chain hash from fields already in canonical form (times as `canonical_time`).

    Positional, for `verify_chain`'s loop over millions of rows; `event_hash` is the
    keyword form.
    """
    encoded = canonical_body(
        seq,
        occurred_at,
        recorded_at,
        type,
        instance_type_id,
        instance_id,
        actor_kind,
        actor_ref,
        payload,
        prev_hash,
        key_id,
    ).encode("utf-8")
    if not key_id:
        return _sha256(encoded).hexdigest()
    if key is None:
        raise ValueError(f"audit key {key_id!r} is needed to hash a keyed event")
    mac = _hmac_state(key).copy()
    mac.update(encoded)
    return mac.hexdigest()


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
    return canonical_hash(
        seq,
        canonical_time(occurred_at),
        canonical_time(recorded_at),
        type,
        instance_type_id,
        instance_id,
        actor_kind,
        actor_ref,
        payload,
        prev_hash,
        key_id,
        key,
    )
