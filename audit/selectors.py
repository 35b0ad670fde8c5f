"""Reads over the event log."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q, QuerySet

from audit.anchors import Checkpoint
from audit.hashing import GENESIS_HASH, event_hash
from audit.keys import verification_keys
from audit.models import ChainHead, Event


def instance_timeline(*, instance: models.Model) -> QuerySet[Event]:
    return Event.objects.filter(
        instance_type=ContentType.objects.get_for_model(instance, for_concrete_model=True),
        instance_id=instance.pk,
    ).order_by("seq")


CONFIG_EVENT_PREFIX = "config."


def config_events_for(*, objects: Iterable[models.Model]) -> QuerySet[Event]:
    """The configuration events about any of `objects`, newest first: what an object's admin
    history page lists (a rule set's page also passes its versions, a source its secrets)."""
    by_type: dict[int, set[int]] = {}
    for obj in objects:
        if obj.pk is None:
            continue
        content_type = ContentType.objects.get_for_model(obj, for_concrete_model=True)
        by_type.setdefault(content_type.pk, set()).add(obj.pk)
    if not by_type:
        return Event.objects.none()
    about = Q()
    for type_id, ids in by_type.items():
        about |= Q(instance_type_id=type_id, instance_id__in=sorted(ids))
    return Event.objects.filter(about, type__startswith=CONFIG_EVENT_PREFIX).order_by("-seq")


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


def config_changes(*, event: Event) -> list[FieldChange]:
    """Each field a configuration event changed, as it was and as it became (a creation lists
    every field it set, a deletion every field it had)."""
    payload = event.payload or {}
    before = payload.get("before") or {}
    after = payload.get("after") or {}
    return [
        FieldChange(field=name, before=before.get(name), after=after.get(name))
        for name in payload.get("changed", [])
    ]


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_break: ChainBreak | None
    # Events hashed before the chain was keyed (key id ""): anyone could recompute them.
    legacy: int = 0

    @property
    def intact(self) -> bool:
        return self.first_break is None


_VERIFY_FIELDS = (
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
    "hash",
)


def _rows(chunk_size: int) -> Iterator[dict]:
    yield from Event.objects.order_by("seq").values(*_VERIFY_FIELDS).iterator(chunk_size=chunk_size)


def verify_chain(
    *, chunk_size: int = 5000, on_progress=None, checkpoint: Checkpoint | None = None
) -> ChainReport:
    """Walk the whole log and recompute every hash with its key; stop at the first break.

    With a `checkpoint` (audit/anchors.py) the log must reach its sequence number with the
    same hash there: a rewritten history or a truncated tail disagrees with it even when the
    database is consistent with itself.

    A legacy unkeyed event verifies only before the first keyed one: after it, an unkeyed
    event is what someone without the key would write. An event naming a key that is not
    configured is a break too (its hash cannot be checked).
    """
    keys = verification_keys()
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    legacy = 0
    keyed_seen = False
    for row in _rows(chunk_size):
        stored_hash = row.pop("hash")
        seq = row["seq"]
        if seq != expected_seq:
            return ChainReport(
                checked, ChainBreak(expected_seq, f"sequence gap: found #{seq} next"), legacy
            )
        if row["prev_hash"] != expected_prev:
            return ChainReport(
                checked, ChainBreak(seq, "prev_hash does not match the previous event"), legacy
            )
        key_id = row["key_id"]
        if key_id:
            keyed_seen = True
            key = keys.get(key_id)
            if key is None:
                return ChainReport(
                    checked,
                    ChainBreak(seq, f"signed with audit key {key_id!r}, which is not configured"),
                    legacy,
                )
        elif keyed_seen:
            return ChainReport(
                checked, ChainBreak(seq, "unkeyed event after keyed ones (re-chained)"), legacy
            )
        else:
            key = None
            legacy += 1
        if event_hash(**row, key=key) != stored_hash:
            return ChainReport(
                checked,
                ChainBreak(seq, "content does not match its hash (row altered)"),
                legacy,
            )
        if checkpoint is not None and seq == checkpoint.seq and stored_hash != checkpoint.hash:
            return ChainReport(
                checked,
                ChainBreak(seq, f"hash differs from the checkpoint of {checkpoint.at} (rewritten)"),
                legacy,
            )
        expected_prev = stored_hash
        expected_seq += 1
        checked += 1
        if on_progress is not None and checked % chunk_size == 0:
            on_progress(checked)
    if checkpoint is not None and checked < checkpoint.seq:
        return ChainReport(
            checked,
            ChainBreak(
                checked + 1,
                f"the log ends at #{checked}, the checkpoint of {checkpoint.at} reached "
                f"#{checkpoint.seq} (tail truncated)",
            ),
            legacy,
        )
    head = ChainHead.objects.filter(pk=1).first()
    if head is not None and (head.last_seq != checked or head.last_hash != expected_prev):
        return ChainReport(
            checked,
            ChainBreak(
                checked + 1 if head.last_seq > checked else head.last_seq,
                f"chain head says #{head.last_seq}, the log ends at #{checked} (rows removed)",
            ),
            legacy,
        )
    return ChainReport(checked, None, legacy)
