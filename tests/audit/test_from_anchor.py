"""`verify_audit --from-anchor` proves a range from a checkpoint alone, never the head row."""

from __future__ import annotations

import shutil

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.anchors import anchor_path
from audit.models import ChainHead, Event
from audit.services import write_checkpoint
from tests.audit.test_anchors import _events, _truncate_tail
from tests.audit.test_keyed_chain import _rechain

pytestmark = pytest.mark.django_db


def _from_anchor(*args: str) -> None:
    call_command("verify_audit", "--quiet", "--from-anchor", *args)


def _from_anchor_fails_at(seq: int, reason: str, *args: str) -> None:
    with pytest.raises(CommandError, match=f"broken at sequence {seq}: .*{reason}") as info:
        _from_anchor(*args)
    assert info.value.returncode == 1


def test_it_proves_up_to_the_checkpoint_and_says_what_whatever_the_head_row_says(capsys):
    events = _events(3)
    checkpoint = write_checkpoint()
    _events(1)
    # A head row someone moved: plain verify_audit trusts it enough to fail on it ...
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_chain_head SET last_seq = 1 WHERE id = 1")
    with pytest.raises(CommandError, match="chain head says #1"):
        call_command("verify_audit", "--quiet")
    capsys.readouterr()

    _from_anchor()

    out = capsys.readouterr().out
    assert f"checked {len(events)} events" in out
    assert f"proved sequences #1-#{checkpoint.seq} against the checkpoint of {checkpoint.at}" in out
    assert "the chain head row was not read" in out
    assert f"events after #{checkpoint.seq} are not covered" in out
    assert ChainHead.objects.get(pk=1).last_seq == 1


def test_a_truncated_tail_is_named_by_its_first_missing_sequence():
    events = _events(4)
    write_checkpoint()
    keep = events[-3][0]

    _truncate_tail(keep=keep)

    _from_anchor_fails_at(keep + 1, "tail truncated")


@pytest.mark.parametrize(
    ("key", "names_k", "reason"),
    [(None, True, "altered"), ("real", False, "differs from the checkpoint")],
    ids=["public-algorithm", "leaked-key"],
)
def test_a_rewritten_range_is_named(key, names_k, reason):
    events = _events(3)
    checkpoint = write_checkpoint()
    k = events[1][0]

    _rechain(start=k, key=settings.OPSCORE_AUDIT_KEYS["test-run"] if key else None)

    _from_anchor_fails_at(k if names_k else checkpoint.seq, reason)


def test_an_older_checkpoint_proves_its_range_when_a_later_one_fails(capsys):
    first = _events(2)
    old = write_checkpoint()
    later = _events(2)
    new = write_checkpoint()
    k = later[-1][0]

    _rechain(start=k, key=settings.OPSCORE_AUDIT_KEYS["test-run"])

    _from_anchor_fails_at(new.seq, "differs from the checkpoint")
    capsys.readouterr()
    _from_anchor("--checkpoint-seq", str(old.seq))
    assert f"proved sequences #1-#{old.seq}" in capsys.readouterr().out
    assert len(first) == old.seq
    with pytest.raises(CommandError, match=r"no checkpoint at #2\b"):
        _from_anchor("--checkpoint-seq", "2")


def test_a_copy_of_the_checkpoints_kept_elsewhere_is_read_with_anchor_file(tmp_path, capsys):
    _events(2)
    checkpoint = write_checkpoint()
    copy = tmp_path / "endpoint-copy.jsonl"
    shutil.copy(anchor_path(), copy)
    anchor_path().unlink()  # the local file lost (or removed by whoever rewrote the log)

    with pytest.raises(CommandError, match="no checkpoint yet"):
        _from_anchor()
    _from_anchor("--anchor-file", str(copy))

    assert f"proved sequences #1-#{checkpoint.seq}" in capsys.readouterr().out
    assert Event.objects.count() == checkpoint.seq
