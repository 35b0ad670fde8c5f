"""Backtests: replay past decisions' inputs through a version and store what would change."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime
from typing import Any

from decisions.errors import DecisionError
from decisions.evaluation import evaluate_model
from decisions.models import Backtest, DecisionRecord, RuleSetVersion
from decisions.services._permissions import BACKTEST_PERMISSION, SUBMIT_PERMISSION, require_any
from opscore.actors import Actor

DEFAULT_BACKTEST_SIZE = 1000
BACKTEST_SAMPLES = 20


def outcome_label(outputs: Any) -> str:
    if isinstance(outputs, dict) and len(outputs) == 1:
        value = next(iter(outputs.values()))
        return value if isinstance(value, str) else json.dumps(value)
    return json.dumps(outputs, sort_keys=True)


def run_backtest(
    *,
    version: RuleSetVersion,
    actor: Actor,
    last: int | None = DEFAULT_BACKTEST_SIZE,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Backtest:
    """Replay past decisions' inputs through `version` and store what would change.

    Uses the last `last` decisions of the rule set, or those made in [since, until). A person
    needs `decisions.backtest_ruleset` (or to be submitting, which runs one).
    """
    require_any(actor, BACKTEST_PERMISSION, SUBMIT_PERMISSION, doing="run backtests")
    started = time.perf_counter()
    records = DecisionRecord.objects.filter(rule_set_id=version.rule_set_id)
    if since is not None or until is not None:
        if since is not None:
            records = records.filter(created_at__gte=since)
        if until is not None:
            records = records.filter(created_at__lt=until)
        window = f"decisions from {since or 'the start'} to {until or 'now'}"
    else:
        window = f"last {last} decisions"
    records = records.order_by("-created_at", "-id")
    if since is None and until is None and last is not None:
        records = records[:last]
    rows = records.values_list("pk", "inputs", "outputs", "instance_type_id", "instance_id", "step")
    transitions: Counter[tuple[str, str]] = Counter()
    samples: list[dict[str, Any]] = []
    error_samples: list[dict[str, Any]] = []
    evaluated = errors = 0
    content, digest = version.content, version.content_digest
    for pk, inputs, old_outputs, type_id, instance_id, step in rows.iterator(chunk_size=2000):
        evaluated += 1
        try:
            new_outputs = evaluate_model(content=content, digest=digest, inputs=inputs).outputs
        except DecisionError as error:
            errors += 1
            if len(error_samples) < BACKTEST_SAMPLES:
                error_samples.append({"decision": pk, "error": str(error)})
            continue
        if json.dumps(new_outputs, sort_keys=True) == json.dumps(old_outputs, sort_keys=True):
            continue
        old_label, new_label = outcome_label(old_outputs), outcome_label(new_outputs)
        transitions[(old_label, new_label)] += 1
        if len(samples) < BACKTEST_SAMPLES:
            samples.append(
                {
                    "decision": pk,
                    "instance_type": type_id,
                    "instance_id": instance_id,
                    "step": step,
                    "from": old_label,
                    "to": new_label,
                }
            )
    return Backtest.objects.create(
        version=version,
        window=window,
        decisions_evaluated=evaluated,
        changed=sum(transitions.values()),
        errors=errors,
        breakdown=[
            {"from": old, "to": new, "count": count}
            for (old, new), count in transitions.most_common()
        ],
        samples=samples,
        error_samples=error_samples,
        duration_ms=int((time.perf_counter() - started) * 1000),
        created_by=actor.user,
    )
