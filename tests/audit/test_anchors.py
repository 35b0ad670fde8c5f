"""Checkpoints outside the database catch what a consistent rewrite of the database hides."""

from __future__ import annotations

import json
import secrets

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings
from django_q.models import Schedule

from audit.anchors import anchor_path, latest_checkpoint
from audit.jobs import write_audit_checkpoint
from audit.models import ChainHead, Event
from audit.services import write_checkpoint
from audit.triggers import install_append_only_guards, remove_append_only_guards
from tests.audit.test_keyed_chain import _rechain
from tests.factories import start_order

pytestmark = pytest.mark.django_db


def _events(n: int) -> list[tuple[int, str]]:
    for _ in range(n):
        start_order()
    return list(Event.objects.order_by("seq").values_list("seq", "hash"))


def _truncate_tail(*, keep: int) -> None:
    """As the table's owner: drop every event after `keep` and move the head back to match."""
    last_hash = Event.objects.get(seq=keep).hash
    remove_append_only_guards(connection)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_event WHERE seq > %s", [keep])
        cursor.execute(
            "UPDATE audit_chain_head SET last_seq = %s, last_hash = %s WHERE id = 1",
            [keep, last_hash],
        )
    install_append_only_guards(connection)


def _verify_fails_at(seq: int, reason: str) -> None:
    with pytest.raises(CommandError, match=f"broken at sequence {seq}: .*{reason}") as info:
        call_command("verify_audit", "--quiet")
    assert info.value.returncode == 1


def test_a_checkpoint_is_a_signed_line_appended_to_the_anchor_file(capsys):
    events = _events(2)

    written = write_checkpoint()

    assert (written.seq, written.hash) == events[-1]
    line = json.loads(anchor_path().read_text().splitlines()[-1])
    assert set(line) == {"seq", "hash", "at", "key_id", "mac"}
    assert (line["seq"], line["hash"], line["key_id"]) == (*events[-1], "test-run")
    assert write_checkpoint() is None  # unchanged log: nothing appended
    last_seq = _events(1)[-1][0]
    assert write_audit_checkpoint() == f"checkpoint at #{last_seq}"
    assert len(anchor_path().read_text().splitlines()) == 2
    call_command("verify_audit", "--quiet")
    assert "agrees with the checkpoint" in capsys.readouterr().out


def test_truncating_the_tail_and_moving_the_head_back_is_caught_naming_the_first_missing():
    events = _events(4)
    write_checkpoint()
    keep = events[-3][0]

    _truncate_tail(keep=keep)

    # The database agrees with itself: without the anchor this would pass.
    head = ChainHead.objects.get(pk=1)
    assert (head.last_seq, head.last_hash) == events[-3]
    _verify_fails_at(keep + 1, "tail truncated")


def test_a_rewritten_history_with_head_moved_disagrees_with_the_checkpoint():
    """Even re-chained with the real key (a leaked key), the anchor written before still holds.

    The chain itself then verifies, so the break is named where the database first
    disagrees with the anchor: the checkpoint's own sequence number.
    """
    events = _events(3)
    checkpoint = write_checkpoint()
    k = events[1][0]

    _rechain(start=k, key=settings.OPSCORE_AUDIT_KEYS["test-run"])

    assert Event.objects.get(seq=k).actor_ref == "mallory"
    _verify_fails_at(checkpoint.seq, "differs from the checkpoint")


@pytest.mark.parametrize("tamper", ["seq", "mac"])
def test_a_checkpoint_edited_without_the_key_is_refused(tamper):
    _events(2)
    write_checkpoint()
    path = anchor_path()
    line = json.loads(path.read_text())
    line[tamper] = line[tamper] - 1 if tamper == "seq" else secrets.token_hex(32)
    path.write_text(json.dumps(line) + "\n")

    with pytest.raises(CommandError, match=r"checkpoint refused: .*wrong MAC") as info:
        call_command("verify_audit", "--quiet")
    assert info.value.returncode == 1


def test_a_checkpoint_signed_with_an_unlisted_key_is_refused():
    _events(1)
    write_checkpoint()

    with (
        override_settings(OPSCORE_AUDIT_KEYS={"other": secrets.token_bytes(32)}),
        pytest.raises(CommandError, match="'test-run', which is not configured"),
    ):
        call_command("verify_audit", "--quiet")


def test_without_a_checkpoint_verify_says_so_and_checks_the_chain_alone(capsys):
    _events(1)
    assert latest_checkpoint() is None

    call_command("verify_audit", "--quiet")

    out = capsys.readouterr().out
    assert "no checkpoint outside the database yet" in out
    assert "chain intact" in out


def test_the_checkpoint_schedule_runs_every_ten_minutes():
    schedule = Schedule.objects.get(name="opscore.audit_checkpoint")
    assert schedule.func == "audit.jobs.write_audit_checkpoint"
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == ("I", 10, -1)


def test_a_log_rechained_from_its_first_event_as_legacy_disagrees_with_the_checkpoint():
    """Unkeyed events verify as an old database's prefix; the anchor tells the two apart."""
    events = _events(2)
    checkpoint = write_checkpoint()

    _rechain(start=events[0][0], key_id="")

    _verify_fails_at(checkpoint.seq, "differs from the checkpoint")
