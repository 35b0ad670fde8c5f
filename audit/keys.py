"""The keys that sign the audit chain, held outside the database.

The settings list `id:base64secret` pairs (opscore/audit_key_settings.py reads them); the
first is the signing key, the others still verify the events they signed, so a key rotates by
putting a new one first. Whoever can write the table but does not hold a key cannot produce
hashes that verify.
"""

from __future__ import annotations

import base64

from django.conf import settings

from opscore.audit_key_settings import (
    DEVELOPMENT_KEY_ID,
    KEY_ID,
    MIN_KEY_BYTES,
    development_key,
    load_audit_keys,
    parse_audit_keys,
)

__all__ = [
    "DEVELOPMENT_KEY_ID",
    "KEY_ID",
    "MIN_KEY_BYTES",
    "development_key",
    "generate_key_line",
    "load_audit_keys",
    "parse_audit_keys",
    "signing_key",
    "verification_keys",
]


def signing_key() -> tuple[str, bytes]:
    """The (id, secret) new events are signed with: the first configured key."""
    key_id, secret = next(iter(settings.OPSCORE_AUDIT_KEYS.items()))
    return key_id, secret


def verification_keys() -> dict[str, bytes]:
    return dict(settings.OPSCORE_AUDIT_KEYS)


def generate_key_line(key_id: str) -> str:
    import secrets

    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode('ascii')}"
