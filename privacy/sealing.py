"""Sealing personal values at the door and revealing them on the way out.

An event type's JSON Schema marks its personal properties with `"x-personal": true` and names
the property that identifies the person with `"x-subject"` (a property name, or a list of
them: the first one present in a payload wins). After the payload is validated, each personal
value is replaced by a sealed token

    pii:v1:<subject id>:<base64url(nonce | AES-256-GCM ciphertext of the value as JSON)>

under the subject's own key (`privacy.models.Subject`), so the inbound row, the instance's
context, its history and every event of the hash chain hold only ciphertext. Pages and API
responses reveal tokens while the key exists and show `[erased]` once it is destroyed; the
chain never covered the plaintext, so it still verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import connection

from audit.keys import verification_keys
from privacy.models import Subject

PERSONAL_KEYWORD = "x-personal"
SUBJECT_KEYWORD = "x-subject"
TOKEN_PREFIX = "pii:v1:"  # noqa: S105 - a marker, not a secret
ERASED = "[erased]"
UNREADABLE = "[unreadable]"
_NONCE_BYTES = 12


class SealingError(ValueError):
    """A value that should be readable is not (a token naming an unknown subject, a value
    that cannot be sealed)."""


# --- what a schema declares ----------------------------------------------------------------


def personal_fields(schema: dict[str, Any]) -> list[str]:
    """The top-level properties `schema` marks `"x-personal": true`, in declaration order."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return []
    return [
        name
        for name, definition in properties.items()
        if isinstance(definition, dict) and definition.get(PERSONAL_KEYWORD) is True
    ]


def subject_fields(schema: dict[str, Any]) -> list[str]:
    declared = schema.get(SUBJECT_KEYWORD) if isinstance(schema, dict) else None
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [name for name in declared if isinstance(name, str)]
    return []


def declaration_errors(schema: dict[str, Any]) -> list[str]:
    """Why `schema`'s personal-data declaration is unusable ([] when it is fine or absent).

    A schema with personal properties must name its subject, and at least one subject
    property must be required, so every payload has a person to seal for."""
    personal = personal_fields(schema)
    subjects = subject_fields(schema)
    if not personal:
        return [] if not subjects else [f"{SUBJECT_KEYWORD} is set but no property is personal"]
    if not subjects:
        return [f"personal properties ({', '.join(personal)}) need an {SUBJECT_KEYWORD}"]
    properties = schema.get("properties", {})
    unknown = [name for name in subjects if name not in properties]
    if unknown:
        return [f"{SUBJECT_KEYWORD} names unknown properties: {', '.join(unknown)}"]
    if not set(subjects) & set(schema.get("required", [])):
        return [f"at least one {SUBJECT_KEYWORD} property must be required"]
    return []


# --- subjects ------------------------------------------------------------------------------


def normalize_ref(ref: str) -> str:
    """Case and spacing do not make another person: " Jane@Example.com" is jane@example.com."""
    return " ".join(str(ref).split()).casefold()


def ref_digests(ref: str) -> list[str]:
    """The reference's HMAC under a sub-key of each configured audit key, the signing key's
    first: whoever holds only the database cannot test guessed emails against the table, and
    a subject found under a retired (still listed) key keeps its row after a rotation."""
    normalized = normalize_ref(ref).encode()
    return [
        hmac.new(
            hmac.new(secret, b"opscore-subject-ref", hashlib.sha256).digest(),
            normalized,
            hashlib.sha256,
        ).hexdigest()
        for secret in verification_keys().values()
    ]


def find_subject(ref: str, *, for_update: bool = False) -> Subject | None:
    """The live (not erased) subject `ref` names, if any."""
    found = Subject.objects.filter(ref_digest__in=ref_digests(ref), erased_at__isnull=True)
    if for_update:
        found = found.select_for_update()
    return found.first()


def _subject_ref(*, schema: dict[str, Any], payload: dict[str, Any]) -> str | None:
    for name in subject_fields(schema):
        value = payload.get(name)
        if value is not None and normalize_ref(str(value)):
            return str(value)
    return None


# --- sealing -------------------------------------------------------------------------------


def _aad(subject_id: int) -> bytes:
    return f"{TOKEN_PREFIX}{subject_id}".encode()


def _seal(*, value: Any, cipher: AESGCM, subject_id: int) -> str:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    plaintext = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    sealed = cipher.encrypt(nonce, plaintext, _aad(subject_id))
    blob = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
    return f"{TOKEN_PREFIX}{subject_id}:{blob}"


def seal_payload(
    *, schema: dict[str, Any], payload: dict[str, Any], fallback_ref: str
) -> dict[str, Any]:
    """`payload` (already validated against `schema`) with each personal value sealed.

    The subject is the first `x-subject` property present; a payload without one (only under
    a schema saved before `declaration_errors` applied) is its own subject, `fallback_ref`.
    A payload with no personal value comes back unchanged and creates no subject.
    """
    (sealed,) = seal_payloads([Unsealed(schema=schema, payload=payload, fallback_ref=fallback_ref)])
    return sealed


@dataclass(frozen=True)
class Unsealed:
    """One payload for `seal_payloads`, with what `seal_payload` takes beside it."""

    schema: dict[str, Any]
    payload: dict[str, Any]
    fallback_ref: str


def seal_payloads(items: list[Unsealed]) -> list[dict[str, Any]]:
    """What `seal_payload` gives for each item, in order, with every subject looked up in
    one query (and the missing ones created in two more), however many payloads and people.
    """
    wanted: list[tuple[list[str], str] | None] = []
    for item in items:
        fields = [
            name for name in personal_fields(item.schema) if item.payload.get(name) is not None
        ]
        ref = (
            (_subject_ref(schema=item.schema, payload=item.payload) or item.fallback_ref)
            if fields
            else ""
        )
        wanted.append((fields, ref) if fields else None)
    subjects = _subjects_for({entry[1] for entry in wanted if entry is not None})
    ciphers: dict[int, AESGCM] = {}
    sealed = []
    for item, entry in zip(items, wanted, strict=True):
        if entry is None:
            sealed.append(item.payload)
            continue
        fields, ref = entry
        subject = subjects[ref]
        cipher = ciphers.get(subject.pk) or ciphers.setdefault(
            subject.pk, AESGCM(bytes(subject.key))
        )
        sealed.append(
            {
                name: _seal(value=value, cipher=cipher, subject_id=subject.pk)
                if name in fields
                else value
                for name, value in item.payload.items()
            }
        )
    return sealed


# Read in SQL: the ORM's query compiler cost an ingestion more CPU than the rest of sealing
# (digests, encryption) together.
_LIVE_SUBJECTS = (
    "SELECT id, ref_digest, key FROM privacy_subject "
    "WHERE ref_digest IN ({digests}) AND erased_at IS NULL ORDER BY id"
)


def _live_subjects(digests: set[str]) -> dict[str, Subject]:
    """The live (not erased) subject of each digest that has one, in one query."""
    query = _LIVE_SUBJECTS.format(digests=", ".join(["%s"] * len(digests)))
    with connection.cursor() as cursor:
        cursor.execute(query, list(digests))
        rows = cursor.fetchall()
    found: dict[str, Subject] = {}
    for row in rows:
        # The other columns stay deferred: they load if read, as on any partly fetched row.
        subject = Subject.from_db(connection.alias, ["id", "ref_digest", "key"], row)
        found.setdefault(subject.ref_digest, subject)
    return found


def _subjects_for(refs: set[str]) -> dict[str, Subject]:
    """Each reference's live subject, the first by id as `find_subject`'s, created where
    there is none; one query for all of them, two more when some are new."""
    if not refs:
        return {}
    digests = {ref: ref_digests(ref) for ref in refs}
    found = _live_subjects({digest for listed in digests.values() for digest in listed})
    subjects: dict[str, Subject] = {}
    missing: dict[str, list[str]] = {}
    for ref, listed in digests.items():
        matches = [found[digest] for digest in listed if digest in found]
        if matches:
            subjects[ref] = min(matches, key=lambda subject: subject.pk)
        else:
            missing.setdefault(listed[0], []).append(ref)
    if missing:
        # A concurrent first event for the same person may create it first: keep theirs.
        Subject.objects.bulk_create(
            [
                Subject(ref_digest=digest, key=AESGCM.generate_key(bit_length=256))
                for digest in missing
            ],
            ignore_conflicts=True,
        )
        for subject in Subject.objects.filter(ref_digest__in=list(missing)):
            for ref in missing[subject.ref_digest]:
                subjects[ref] = subject
    return subjects


# --- revealing -----------------------------------------------------------------------------


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


def _parse(token: str) -> tuple[int, bytes] | None:
    try:
        subject_id, blob = token[len(TOKEN_PREFIX) :].split(":", 1)
        raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        return int(subject_id), raw
    except (ValueError, TypeError):
        return None


def _walk_tokens(value: Any) -> Iterable[str]:
    if is_sealed(value):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk_tokens(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_tokens(item)


def subject_ids_in(value: Any) -> set[int]:
    return {parsed[0] for token in _walk_tokens(value) if (parsed := _parse(token)) is not None}


class Revealer:
    """Reveals tokens, fetching each subject's key once (one query per batch of values)."""

    def __init__(self) -> None:
        self._keys: dict[int, bytes | None] = {}

    def prefetch(self, values: Iterable[Any]) -> Revealer:
        wanted = set().union(*(subject_ids_in(value) for value in values)) - set(self._keys)
        if wanted:
            found = dict(Subject.objects.filter(pk__in=wanted).values_list("pk", "key"))
            for subject_id in wanted:
                key = found.get(subject_id)
                self._keys[subject_id] = bytes(key) if key is not None else None
        return self

    def reveal_token(self, token: str) -> Any:
        parsed = _parse(token)
        if parsed is None:
            return UNREADABLE
        subject_id, raw = parsed
        if subject_id not in self._keys:
            self.prefetch([token])
        key = self._keys.get(subject_id)
        if key is None:
            return ERASED
        try:
            plaintext = AESGCM(key).decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(subject_id)
            )
        except (InvalidTag, ValueError):
            return UNREADABLE
        return json.loads(plaintext)

    def reveal(self, value: Any) -> Any:
        """`value` (any JSON) with every token replaced by its plaintext, or `[erased]`."""
        if is_sealed(value):
            return self.reveal_token(value)
        if isinstance(value, dict):
            return {name: self.reveal(item) for name, item in value.items()}
        if isinstance(value, list):
            return [self.reveal(item) for item in value]
        return value


def reveal(value: Any) -> Any:
    """One JSON value revealed (see `Revealer` to reveal many with one query)."""
    return Revealer().prefetch([value]).reveal(value)


def reveal_many(values: list[Any]) -> list[Any]:
    revealer = Revealer().prefetch(values)
    return [revealer.reveal(value) for value in values]


def has_erased(value: Any) -> bool:
    """Whether any sealed value inside `value` can no longer be read."""
    revealer = Revealer().prefetch([value])
    return any(
        revealer.reveal_token(token) in (ERASED, UNREADABLE) for token in _walk_tokens(value)
    )
