"""Erasing a data subject: destroy their key, scrub the plaintext copies free text may hold,
and record the erasure (without the personal data) in the log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from audit.services import record_config_change
from opscore.actors import Actor
from opscore.scrubbing import recordable
from privacy.models import Subject
from privacy.sealing import ERASED, TOKEN_PREFIX, Revealer, find_subject

ERASURE_REASON_MAX = 500
# Shorter values ("A", "12") would scrub unrelated text; they are not searched for.
SCRUB_MIN_CHARS = 4

# Where a personal value's ciphertext can be found, to learn what to scrub: (app, model, JSON
# field). Every sealed value that entered a workflow is in the log; one that was only stored
# is in its inbound event.
SEALED_COLUMNS = [
    ("audit", "Event", "payload"),
    ("integrations", "InboundEvent", "payload"),
]
# Free text that may hold a plaintext copy of a personal value: a remote error body echoing
# the postcode it was sent, a reviewer's reason naming the customer, a refused request's
# body. Named, not imported: the data layer looks up, never down.
FREE_TEXT_COLUMNS = [
    ("workflows", "Execution", "last_error"),
    ("approvals", "ReviewTask", "reason"),
    ("approvals", "ReviewTask", "information_requested"),
    ("approvals", "TaskNotification", "last_error"),
    ("decisions", "Override", "reason"),
    ("integrations", "Rejection", "detail"),
    ("integrations", "Rejection", "body_excerpt"),
]
# JSON that may quote a value in plaintext: a refused request's field errors
# ("'ZZ1' does not match ...").
FREE_JSON_COLUMNS = [
    ("integrations", "Rejection", "errors"),
]


class UnknownSubject(Exception):
    """No personal data is held for this reference (never seen, or already erased)."""


class ReasonRequired(ValueError):
    pass


@dataclass(frozen=True)
class ErasureReport:
    subject_id: int
    values_found: int
    rows_scrubbed: int


def _sealed_values(subject: Subject) -> set[str]:
    """The subject's personal values in plaintext, as text, read while the key exists."""
    marker = f"{TOKEN_PREFIX}{subject.pk}:"
    revealer = Revealer()
    found: set[str] = set()
    for app_label, model_name, field in SEALED_COLUMNS:
        model = apps.get_model(app_label, model_name)
        rows = (
            model.objects.annotate(_text=Cast(field, TextField()))
            .filter(_text__contains=marker)
            .values_list(field, flat=True)
        )
        for value in rows.iterator(chunk_size=500):
            _collect(value, marker=marker, revealer=revealer, into=found)
    return found


def _collect(value: Any, *, marker: str, revealer: Revealer, into: set[str]) -> None:
    if isinstance(value, str) and value.startswith(marker):
        plain = revealer.reveal_token(value)
        for text in _texts(plain):
            if len(text) >= SCRUB_MIN_CHARS:
                into.add(text)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, marker=marker, revealer=revealer, into=into)
    elif isinstance(value, list):
        for item in value:
            _collect(item, marker=marker, revealer=revealer, into=into)


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value.strip()]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return []


def _scrub_free_text(values: set[str]) -> int:
    scrubbed = 0
    for app_label, model_name, field in FREE_TEXT_COLUMNS:
        model = apps.get_model(app_label, model_name)
        for value in sorted(values, key=len, reverse=True):
            for pk, text in model.objects.filter(**{f"{field}__icontains": value}).values_list(
                "pk", field
            ):
                cleaned = _replace_casefolded(text, value)
                if cleaned != text:
                    # update(), not save(): only the text changes, no signal or history row
                    # is to repeat the value.
                    model.objects.filter(pk=pk).update(**{field: cleaned})
                    scrubbed += 1
    return scrubbed


def _scrub_free_json(values: set[str]) -> int:
    scrubbed = 0
    for app_label, model_name, field in FREE_JSON_COLUMNS:
        model = apps.get_model(app_label, model_name)
        for value in sorted(values, key=len, reverse=True):
            rows = (
                model.objects.annotate(_text=Cast(field, TextField()))
                .filter(_text__icontains=value)
                .values_list("pk", field)
            )
            for pk, document in rows:
                cleaned = _replace_in_json(document, value)
                if cleaned != document:
                    model.objects.filter(pk=pk).update(**{field: cleaned})
                    scrubbed += 1
    return scrubbed


def _replace_in_json(document: Any, value: str) -> Any:
    if isinstance(document, str):
        return _replace_casefolded(document, value)
    if isinstance(document, dict):
        return {key: _replace_in_json(item, value) for key, item in document.items()}
    if isinstance(document, list):
        return [_replace_in_json(item, value) for item in document]
    return document


def _replace_casefolded(text: str, value: str) -> str:
    lowered, needle = text.casefold(), value.casefold()
    if len(lowered) != len(text):  # casefold changed lengths: fall back to an exact replace
        return text.replace(value, ERASED)
    out, start = [], 0
    while (index := lowered.find(needle, start)) != -1:
        out.append(text[start:index])
        out.append(ERASED)
        start = index + len(needle)
    out.append(text[start:])
    return "".join(out)


def erase_subject(
    *, ref: str, reason: str, actor: Actor, channel: str = "command"
) -> ErasureReport:
    """Make a subject's personal data unreadable everywhere, keeping the log verifiable.

    In one transaction: find the subject by its reference, collect their plaintext values
    (from the sealed copies, while the key still exists) and replace them in the free-text
    columns that may repeat them, destroy the key and forget the reference, and record
    `config.personal_data.erased` with the subject's number and the reason, never the
    reference or the values. The sealed copies (inbound payloads, contexts, history, events)
    are left as they are: without the key they read as `[erased]`, and the chain, which only
    ever covered ciphertext, still verifies. Raises UnknownSubject, having changed nothing,
    when no personal data is held for `ref`.
    """
    reason = reason.strip()
    if not reason:
        raise ReasonRequired("a reason is required to erase a subject (e.g. the request's id)")
    with transaction.atomic():
        subject = find_subject(ref, for_update=True)
        if subject is None:
            raise UnknownSubject(
                "no personal data is held for this subject (never seen, or already erased)"
            )
        values = _sealed_values(subject)
        rows = _scrub_free_text(values) + _scrub_free_json(values)
        subject.key = None
        subject.ref_digest = None
        subject.erased_at = timezone.now()
        subject.save(update_fields=["key", "ref_digest", "erased_at"])
        record_config_change(
            actor=actor,
            channel=channel,
            kind="personal_data",
            action="erased",
            target=subject,
            label=f"subject #{subject.pk}",
            before={"key": "held"},
            after={
                "key": "destroyed",
                "reason": recordable(reason, limit=ERASURE_REASON_MAX),
                "free_text_rows_scrubbed": rows,
            },
        )
    return ErasureReport(subject_id=subject.pk, values_found=len(values), rows_scrubbed=rows)
