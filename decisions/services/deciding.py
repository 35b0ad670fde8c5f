"""Deciding: evaluate a rule set's published version and record the decision (or only evaluate,
for dry runs and re-evaluation)."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError
from django.db.models import Model

from decisions import published
from decisions.errors import DecisionError
from decisions.evaluation import Evaluation, evaluate_model
from decisions.models import DecisionRecord, RuleSetVersion
from opscore.bulk_insert import insert_unless_taken


def evaluate_version(*, version: RuleSetVersion, inputs: dict[str, Any]) -> Evaluation:
    """Evaluate without recording anything (dry runs, backtests, re-evaluation)."""
    return evaluate_model(content=version.content, digest=version.content_digest, inputs=inputs)


def reevaluate_record(*, record: DecisionRecord) -> Evaluation:
    """Evaluate a recorded decision's inputs again with the version it was made with."""
    return evaluate_version(version=record.version, inputs=record.inputs)


def evaluate_ruleset(*, slug: str, inputs: dict[str, Any]) -> tuple[RuleSetVersion, Evaluation]:
    """Dry run against the published version: nothing is recorded."""
    version = published.published_version(slug=slug)
    return version, evaluate_version(version=version, inputs=inputs)


def decide(
    *,
    rule_set: str,
    inputs: dict[str, Any],
    instance: Model | None = None,
    step: str = "",
    idempotency_key: str = "",
) -> DecisionRecord:
    """Evaluate the published version and record the decision, committed on its own: it
    stands even if what the caller does with it fails afterwards.

    With an idempotency key, a repeat (a retried step) returns the first record unchanged,
    even if another version was published in between or the rule set now refuses: one step,
    one answer. Errors are DecisionError kinds (all permanent); nothing is recorded for them.
    """
    try:
        version, evaluation = evaluate_ruleset(slug=rule_set, inputs=inputs)
    except DecisionError:
        existing = _recorded(idempotency_key)
        if existing is None:
            raise
        return existing
    record = DecisionRecord(
        rule_set_id=version.rule_set_id,
        version=version,
        inputs=inputs,
        outputs=evaluation.outputs,
        matched_rules=evaluation.matched_rules,
        primary_rule_id=evaluation.matched_rules[0]["id"] if evaluation.matched_rules else "",
        duration_us=evaluation.duration_us,
        instance_type=ContentType.objects.get_for_model(instance) if instance else None,
        instance_id=instance.pk if instance else None,
        step=step,
        idempotency_key=idempotency_key,
    )
    # The first run of a step finds no record, so the insert is tried first (one statement,
    # its own commit outside a transaction); a repeat's finds its key taken and writes nothing,
    # without the database refusing it (no ERROR in PostgreSQL's log, no savepoint needed).
    if insert_unless_taken(record):
        return record
    existing = _recorded(idempotency_key)
    if existing is None:
        raise IntegrityError(f"decision record {idempotency_key!r} not written and not found")
    return existing


def _recorded(idempotency_key: str) -> DecisionRecord | None:
    if not idempotency_key:
        return None
    return DecisionRecord.objects.filter(idempotency_key=idempotency_key).first()
