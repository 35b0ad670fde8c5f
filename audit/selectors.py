"""Reads over the event log."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connection, models, transaction
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from audit.anchors import Checkpoint
from audit.hashing import GENESIS_HASH, canonical_hash, canonical_time
from audit.keys import verification_keys
from audit.models import ChainHead, Event

# How a stored payload reads on a page: the privacy layer above seals personal values and
# appends its revealer here in its AppConfig.ready(); each reader gets what the previous one
# returned. The log itself keeps the stored payload.
PAYLOAD_READERS: list[Callable[[Any], Any]] = []


def readable_payload(payload: Any) -> Any:
    for reader in PAYLOAD_READERS:
        payload = reader(payload)
    return payload


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


def _rows(chunk_size: int, *, upto: int | None = None) -> Iterator[tuple]:
    """Events in sequence order as tuples of `_VERIFY_FIELDS`, streamed through the ORM.

    `iterator()` reads through a server-side cursor on PostgreSQL (and fetchmany on SQLite),
    so memory stays flat however long the log is.
    """
    events = Event.objects.order_by("seq")
    if upto is not None:
        events = events.filter(seq__lte=upto)
    yield from events.values_list(*_VERIFY_FIELDS).iterator(chunk_size=chunk_size)


# PostgreSQL writes the times in `canonical_time`'s form itself and hands the payload over as
# text: converting two datetimes per row in Python (Django's loader is pure Python) cost more
# than hashing the row.
_POSTGRES_ROWS_SQL = """
    SELECT seq,
        to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
        to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
        type, instance_type_id, instance_id, actor_kind, actor_ref, payload::text, prev_hash,
        key_id, hash
    FROM audit_event WHERE seq <= %s ORDER BY seq
"""


def _canonical_rows(chunk_size: int, *, upto: int | None = None) -> Iterator[list[tuple]]:
    """Chunks of `_VERIFY_FIELDS` tuples, both times as `canonical_time` strings and the
    payload as its JSON text (decoded by the caller: one step less per row)."""
    if connection.vendor != "postgresql":
        events = Event.objects.order_by("seq").annotate(
            payload_text=Cast("payload", output_field=TextField())
        )
        if upto is not None:
            events = events.filter(seq__lte=upto)
        fields = ["payload_text" if name == "payload" else name for name in _VERIFY_FIELDS]
        chunk = []
        for row in events.values_list(*fields).iterator(chunk_size=chunk_size):
            chunk.append((row[0], canonical_time(row[1]), canonical_time(row[2]), *row[3:]))
            if len(chunk) == chunk_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
        return
    # A named (server-side) cursor: the server sends chunk_size rows at a time. Inside a
    # transaction, so it is not WITH HOLD: a holdable cursor opened in autocommit has the
    # server compute and store the whole result before the first row comes back. The next
    # chunk is fetched in a thread while this one is hashed (psycopg lets go of the GIL while
    # it waits), so the server's time to produce rows hides behind the hashing.
    with (
        transaction.atomic(using=connection.alias),
        connection.chunked_cursor() as cursor,
        ThreadPoolExecutor(max_workers=1) as fetcher,
    ):
        cursor.execute(_POSTGRES_ROWS_SQL, [upto if upto is not None else 2**63 - 1])
        next_chunk = fetcher.submit(cursor.fetchmany, chunk_size)
        while chunk := next_chunk.result():
            next_chunk = fetcher.submit(cursor.fetchmany, chunk_size)
            yield chunk


def verify_chain(
    *,
    chunk_size: int = 5000,
    on_progress=None,
    checkpoint: Checkpoint | None = None,
    upto_checkpoint: bool = False,
) -> ChainReport:
    """Walk the whole log and recompute every hash with its key; stop at the first break.

    With a `checkpoint` (audit/anchors.py) the log must reach its sequence number with the
    same hash there: a rewritten history or a truncated tail disagrees with it even when the
    database is consistent with itself.

    With `upto_checkpoint` only events #1 to the checkpoint's are read, and the chain head
    row is not: what passes is proved by the checkpoint alone (`verify_audit --from-anchor`).

    A legacy unkeyed event verifies only before the first keyed one: after it, an unkeyed
    event is what someone without the key would write. An event naming a key that is not
    configured is a break too (its hash cannot be checked).
    """
    if upto_checkpoint and checkpoint is None:
        raise ValueError("upto_checkpoint needs a checkpoint")
    keys = verification_keys()
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    legacy = 0
    keyed_seen = False
    checkpoint_seq = checkpoint.seq if checkpoint is not None else None
    upto = checkpoint_seq if upto_checkpoint else None
    hash_of = canonical_hash
    # The C scanner json.loads ends in, without its two Python frames (the payload's text
    # has no surrounding whitespace to strip).
    decode = json.JSONDecoder().scan_once
    for (
        seq,
        occurred_at,
        recorded_at,
        type_,
        instance_type_id,
        instance_id,
        actor_kind,
        actor_ref,
        payload,
        prev_hash,
        key_id,
        stored_hash,
    ) in chain.from_iterable(_canonical_rows(chunk_size, upto=upto)):
        if seq != expected_seq:
            return ChainReport(
                checked, ChainBreak(expected_seq, f"sequence gap: found #{seq} next"), legacy
            )
        if prev_hash != expected_prev:
            return ChainReport(
                checked, ChainBreak(seq, "prev_hash does not match the previous event"), legacy
            )
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
        computed = hash_of(
            seq,
            occurred_at,
            recorded_at,
            type_,
            instance_type_id,
            instance_id,
            actor_kind,
            actor_ref,
            decode(payload, 0)[0],
            prev_hash,
            key_id,
            key,
        )
        if computed != stored_hash:
            return ChainReport(
                checked,
                ChainBreak(seq, "content does not match its hash (row altered)"),
                legacy,
            )
        if seq == checkpoint_seq and stored_hash != checkpoint.hash:
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
    if upto_checkpoint:
        return ChainReport(checked, None, legacy)
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
