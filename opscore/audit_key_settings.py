"""The audit chain's keys as configured: `OPSCORE_AUDIT_KEYS` (comma separated) or the file
named by `OPSCORE_AUDIT_KEY_FILE` (one a line, `#` comments) lists `id:base64secret` pairs.

Pure functions of their inputs, in the kernel because `opscore/settings.py` calls
`load_audit_keys` at import; the audit app (audit/keys.py) signs and verifies with the result.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

# An id is stored on every event (`Event.key_id`); "" is reserved for legacy unkeyed events.
KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
MIN_KEY_BYTES = 32
DEVELOPMENT_KEY_ID = "dev"


def parse_audit_keys(lines: list[str], *, source: str) -> dict[str, bytes]:
    """`id:base64secret` entries, signing key first; ImproperlyConfigured naming `source`."""
    keys: dict[str, bytes] = {}
    for raw in lines:
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not KEY_ID.match(key_id):
            raise ImproperlyConfigured(
                f"{source}: each entry is id:base64secret with an id of 1-32 letters, digits, "
                "'.', '_' or '-'"
            )
        try:
            secret = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(f"{source}: key {key_id!r} is not valid base64") from None
        if len(secret) < MIN_KEY_BYTES:
            raise ImproperlyConfigured(
                f"{source}: key {key_id!r} has {len(secret)} bytes; it needs {MIN_KEY_BYTES}+"
            )
        if key_id in keys:
            raise ImproperlyConfigured(f"{source}: key id {key_id!r} appears twice")
        keys[key_id] = secret
    return keys


def load_audit_keys(*, keys_env: str, key_file: str) -> dict[str, bytes]:
    """The configured keys from the environment's values, signing key first (may be empty)."""
    if keys_env.strip() and key_file.strip():
        raise ImproperlyConfigured("set OPSCORE_AUDIT_KEYS or OPSCORE_AUDIT_KEY_FILE, not both")
    if keys_env.strip():
        keys = parse_audit_keys(keys_env.split(","), source="OPSCORE_AUDIT_KEYS")
        source = "OPSCORE_AUDIT_KEYS"
    elif key_file.strip():
        path = Path(key_file.strip())
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"OPSCORE_AUDIT_KEY_FILE: cannot read {path}: {exc}"
            ) from None
        source = f"OPSCORE_AUDIT_KEY_FILE ({path})"
        keys = parse_audit_keys(lines, source=source)
    else:
        return {}
    if not keys:
        raise ImproperlyConfigured(f"{source} is set but lists no key")
    return keys


def development_key(secret_key: str) -> bytes:
    """A per-installation key for DEBUG: derived from SECRET_KEY, never used with DEBUG off."""
    return hmac.new(
        secret_key.encode("utf-8"), b"opscore audit chain development key", hashlib.sha256
    ).digest()
