"""Sealing personal values under per-subject keys, and reading them back."""

import pytest

from privacy.models import Subject
from privacy.sealing import ERASED, UNREADABLE, reveal, reveal_many, seal_payload

pytestmark = pytest.mark.django_db

SCHEMA = {
    "type": "object",
    "x-subject": ["email", "name"],
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "x-personal": True},
        "email": {"type": "string", "x-personal": True},
        "tags": {"type": "array", "x-personal": True},
        "amount": {"type": "number"},
    },
}


def test_personal_values_round_trip_and_the_rest_is_left_alone():
    payload = {"name": "Ann Example", "tags": ["vip", 3], "amount": 12.5}
    sealed = seal_payload(schema=SCHEMA, payload=payload, fallback_ref="event:1")
    assert sealed["amount"] == 12.5
    assert "Ann" not in str(sealed)
    assert reveal(sealed) == payload


def test_a_payload_without_personal_values_is_unchanged_and_makes_no_subject():
    payload = {"amount": 3}
    assert seal_payload(schema=SCHEMA, payload=payload, fallback_ref="event:1") is payload
    assert seal_payload(schema={"type": "object"}, payload={"name": "x"}, fallback_ref="e") == {
        "name": "x"
    }
    assert not Subject.objects.exists()


def test_the_first_subject_field_present_names_the_subject_whatever_its_case():
    first = seal_payload(
        schema=SCHEMA, payload={"name": "A", "email": " Ann@Example.invalid"}, fallback_ref="e1"
    )
    second = seal_payload(
        schema=SCHEMA, payload={"name": "B", "email": "ann@example.INVALID"}, fallback_ref="e2"
    )
    by_name = seal_payload(schema=SCHEMA, payload={"name": "Ann"}, fallback_ref="e3")
    subject = first["name"].split(":")[2]
    assert second["name"].split(":")[2] == subject
    assert by_name["name"].split(":")[2] != subject
    assert Subject.objects.count() == 2


def test_a_token_moved_to_another_subject_or_tampered_with_is_unreadable():
    ann = seal_payload(schema=SCHEMA, payload={"name": "Ann"}, fallback_ref="e1")["name"]
    bob = seal_payload(schema=SCHEMA, payload={"name": "Bob"}, fallback_ref="e2")["name"]
    prefix, version, _, blob = ann.split(":")
    moved = f"{prefix}:{version}:{bob.split(':')[2]}:{blob}"
    tampered = ann[:-2] + ("AA" if not ann.endswith("AA") else "BB")
    assert reveal_many([moved, tampered, "pii:v1:not-a-number:x"]) == [UNREADABLE] * 3


def test_a_destroyed_key_reads_erased():
    sealed = seal_payload(schema=SCHEMA, payload={"name": "Ann"}, fallback_ref="e1")
    Subject.objects.update(key=None)
    assert reveal(sealed) == {"name": ERASED}


def test_the_subject_table_holds_no_guessable_digest_and_survives_a_key_rotation(settings):
    import hashlib

    from privacy.sealing import find_subject

    seal_payload(schema=SCHEMA, payload={"name": "Ann"}, fallback_ref="e1")
    stored = Subject.objects.get().ref_digest
    assert stored != hashlib.sha256(b"ann").hexdigest()
    settings.OPSCORE_AUDIT_KEYS = {"new": b"n" * 32, **settings.OPSCORE_AUDIT_KEYS}
    seal_payload(schema=SCHEMA, payload={"name": "ann "}, fallback_ref="e2")
    assert Subject.objects.count() == 1
    assert find_subject("ANN").ref_digest == stored
    settings.OPSCORE_AUDIT_KEYS = {"new": b"n" * 32}
    assert find_subject("Ann") is None
