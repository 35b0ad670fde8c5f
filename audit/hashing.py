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
    body = {
        "seq": seq,
        "occurred_at": occurred_at,
        "recorded_at": recorded_at,
        "type": type,
        "instance_type_id": instance_type_id,
        "instance_id": instance_id,
        "actor_kind": actor_kind,
        "actor_ref": actor_ref,
        "payload": payload,
        "prev_hash": prev_hash,
    }
    if not key_id:
        return _sha256(_encode(body).encode("utf-8")).hexdigest()
    body["key_id"] = key_id
    if key is None:
        raise ValueError(f"audit key {key_id!r} is needed to hash a keyed event")
    mac = _hmac_state(key).copy()
    mac.update(_encode(body).encode("utf-8"))
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
