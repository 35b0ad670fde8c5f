"""Overrides: a person deciding otherwise than a decision recommended, counted against its rule."""

from __future__ import annotations

from typing import Any

from django.db.models import Model

from decisions import selectors
from decisions.errors import DecisionError
from decisions.models import Override
from opscore.actors import Actor
from opscore.scrubbing import recordable


def record_override(
    *, instance: Model, rule_set: str, chosen: dict[str, Any], reason: str, actor: Actor
) -> Override:
    """Record that a person decided `chosen` where the instance's latest decision of
    `rule_set` recommended otherwise; counted against the row that matched.

    Idempotent: the same choice against the same decision (a retried step) is recorded once.
    """
    if not reason.strip():
        raise DecisionError("a reason is required to record an override")
    decision = selectors.latest_decision_for(instance=instance, rule_set=rule_set)
    if decision is None:
        raise DecisionError(f"{instance} has no {rule_set!r} decision to override")
    recommended = decision.outputs
    if isinstance(recommended, dict) and all(
        recommended.get(key) == value for key, value in chosen.items()
    ):
        raise DecisionError(f"{chosen} is what {rule_set!r} recommended: not an override")
    existing = next((o for o in decision.overrides.all() if o.chosen == chosen), None)
    if existing is not None:
        return existing
    return Override.objects.create(
        decision=decision,
        rule_set_id=decision.rule_set_id,
        version_id=decision.version_id,
        rule_id=decision.primary_rule_id,
        recommended=recommended,
        chosen=chosen,
        reason=recordable(reason),
        actor_ref=str(actor),
        user=actor.user,
    )
