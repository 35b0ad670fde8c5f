"""The chain is keyed: whoever can rewrite audit_event but lacks the key cannot re-chain it.

The attack of issue 15, as the database owner: lift the append-only guards, rewrite event k's
actor, recompute every later hash and the chain head with the public algorithm (or a wrong
key), put the guards back. `verify_audit` must exit 1 naming k. On PostgreSQL the same attack
runs as a real owner role beside a least-privilege runtime role in tests/audit/test_db_roles.py.
"""

from __future__ import annotations

import base64
import secrets

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings

from audit.hashing import GENESIS_HASH, event_hash
from audit.keys import load_audit_keys
from audit.models import ChainHead, Event
from audit.selectors import verify_chain
from audit.triggers import install_append_only_guards, remove_append_only_guards
from tests.factories import start_order

pytestmark = pytest.mark.django_db

HASHED = (
    "seq",
    "occurred_at",
    "recorded_at",
    "type",
    "instance_type_id",
    "instance_id",
    "actor_kind",
    "actor_ref",
    "payload",
    "prev_hash",
    "key_id",
)


def _key() -> bytes:
    return secrets.token_bytes(32)


def _events(n: int = 4) -> list[int]:
    for _ in range(n):
        start_order()
    return list(Event.objects.order_by("seq").values_list("seq", flat=True))


def _rechain(*, start: int, key_id: str | None = None, key: bytes | None = None) -> None:
    """Rewrite event `start`'s actor and re-chain everything after it, head included.

    key_id None keeps each row's key id (and hashes with `key`, or public SHA-256 over the
    body without the key id when `key` is None); "" downgrades the rows to legacy.
    """
    rows = list(Event.objects.filter(seq__gte=start).order_by("seq").values(*HASHED))
    previous = Event.objects.filter(seq=start - 1).values_list("hash", flat=True).first()
    prev_hash = previous or GENESIS_HASH
    remove_append_only_guards(connection)
    with connection.cursor() as cursor:
        for row in rows:
            if row["seq"] == start:
                row["actor_ref"] = "mallory"
            row["prev_hash"] = prev_hash
            if key_id is not None:
                row["key_id"] = key_id
            if key is None:
                prev_hash = event_hash(**{**row, "key_id": ""})
            else:
                prev_hash = event_hash(**row, key=key)
            cursor.execute(
                "UPDATE audit_event SET actor_ref = %s, prev_hash = %s, key_id = %s, hash = %s "
                "WHERE seq = %s",
                [row["actor_ref"], row["prev_hash"], row["key_id"], prev_hash, row["seq"]],
            )
        cursor.execute(
            "UPDATE audit_chain_head SET last_seq = %s, last_hash = %s WHERE id = 1",
            [rows[-1]["seq"], prev_hash],
        )
    install_append_only_guards(connection)


def _assert_caught_at(seq: int, reason: str) -> None:
    with pytest.raises(CommandError, match=f"broken at sequence {seq}: .*{reason}") as info:
        call_command("verify_audit", "--quiet")
    assert info.value.returncode == 1


def test_new_events_are_signed_with_the_first_configured_key():
    seqs = _events(2)

    assert set(Event.objects.values_list("key_id", flat=True)) == {"test-run"}
    report = verify_chain()
    assert report.intact
    assert report.checked == len(seqs)
    assert report.legacy == 0


@pytest.mark.parametrize(
    ("key_id", "wrong_key", "reason"),
    [
        ("", False, "unkeyed event after keyed ones"),
        (None, False, "altered"),
        (None, True, "altered"),
        ("forged", True, "not configured"),
    ],
    ids=["public-algorithm-as-legacy", "public-algorithm", "wrong-key", "unknown-key-id"],
)
def test_rechaining_from_row_k_with_head_moved_is_caught_naming_k(key_id, wrong_key, reason):
    seqs = _events(4)
    k = seqs[len(seqs) // 2]

    _rechain(start=k, key_id=key_id, key=_key() if wrong_key else None)

    # The forgery is self-consistent: links and head agree, only the key is missing.
    head = ChainHead.objects.get(pk=1)
    assert head.last_hash == Event.objects.order_by("-seq").first().hash
    assert Event.objects.get(seq=k).actor_ref == "mallory"
    _assert_caught_at(k, reason)


def test_a_rotated_key_keeps_old_events_verifying():
    old, new = _key(), _key()
    with override_settings(OPSCORE_AUDIT_KEYS={"old": old}):
        first = _events(2)
    with override_settings(OPSCORE_AUDIT_KEYS={"new": new, "old": old}):
        _events(2)
        assert Event.objects.get(seq=first[-1]).key_id == "old"
        assert Event.objects.order_by("-seq").first().key_id == "new"
        call_command("verify_audit", "--quiet")
    # Retiring the old key leaves its events unverifiable, and verify says which.
    with override_settings(OPSCORE_AUDIT_KEYS={"new": new}):
        _assert_caught_at(first[0], "'old', which is not configured")


def test_a_legacy_unkeyed_log_still_verifies_and_keyed_events_follow_it(capsys):
    """A database from before the keyed chain: every row key id "", plain SHA-256."""
    seqs = _events(2)
    # What migration 0003 leaves behind: every row key id "", hashed with plain SHA-256.
    _rechain(start=seqs[0], key_id="")

    call_command("verify_audit", "--quiet")
    _events(1)

    report = verify_chain()
    assert report.intact
    assert report.legacy == len(seqs)
    assert Event.objects.order_by("-seq").first().key_id == "test-run"
    call_command("verify_audit", "--quiet")
    assert f"events #1-#{len(seqs)} predate the keyed chain" in capsys.readouterr().out


def test_a_keyed_row_rewritten_in_place_is_caught():
    seqs = _events(3)
    remove_append_only_guards(connection)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_event SET key_id = '' WHERE seq = %s", [seqs[-1]])
    install_append_only_guards(connection)

    _assert_caught_at(seqs[-1], "unkeyed event after keyed ones")


def test_audit_keys_are_read_from_a_file_with_the_first_as_signing_key(tmp_path):
    a, b = base64.b64encode(_key()).decode(), base64.b64encode(_key()).decode()
    path = tmp_path / "audit-keys"
    path.write_text(f"# rotated 2026-11\nk2:{a}\n\nk1:{b}\n")

    keys = load_audit_keys(keys_env="", key_file=str(path))

    assert list(keys) == ["k2", "k1"]
    assert keys["k2"] == base64.b64decode(a)


@pytest.mark.parametrize(
    ("keys_env", "message"),
    [
        ("nocolon", "id:base64secret"),
        ("k1:not base64!", "not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "needs 32+"),
        (
            f"k1:{base64.b64encode(b'x' * 32).decode()},k1:{base64.b64encode(b'y' * 32).decode()}",
            "appears twice",
        ),
        (" , ", "lists no key"),
    ],
)
def test_malformed_audit_keys_are_refused(keys_env, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        load_audit_keys(keys_env=keys_env, key_file="")
