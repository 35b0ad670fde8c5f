"""Override rate per rule row: how often people decided otherwise than the matched row.

Decisions and overrides are not events in the log: they are records of their own
(decisions.DecisionRecord, decisions.Override, kept for reproducibility, invariant 7), so this
report reads those, by the time each was recorded. An override counts against the row that
matched the decision it overrode (DecisionRecord.primary_rule_id).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count

from decisions.models import DecisionRecord, Override
from observability.reports.registry import ReportTable, register
from observability.reports.window import Window


@dataclass(frozen=True)
class RuleRowRate:
    rule_set: str
    rule_id: str
    decisions: int
    overrides: int

    @property
    def rate(self) -> float:
        return round(self.overrides / self.decisions, 4) if self.decisions else 0.0


def override_rates(window: Window) -> list[RuleRowRate]:
    """Per (rule set, matched row): decisions recorded and overrides recorded in the window."""
    decisions = {
        (slug, rule_id): n
        for slug, rule_id, n in DecisionRecord.objects.filter(
            created_at__gte=window.since, created_at__lt=window.until
        )
        .values_list("rule_set__slug", "primary_rule_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("rule_set__slug", "primary_rule_id", "n")
    }
    overrides = {
        (slug, rule_id): n
        for slug, rule_id, n in Override.objects.filter(
            created_at__gte=window.since, created_at__lt=window.until
        )
        .values_list("rule_set__slug", "rule_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("rule_set__slug", "rule_id", "n")
    }
    return [
        RuleRowRate(
            slug, rule_id, decisions.get((slug, rule_id), 0), overrides.get((slug, rule_id), 0)
        )
        for slug, rule_id in sorted(set(decisions) | set(overrides))
    ]


@register(
    name="overrides",
    title="Override rate per rule row",
    description="Decisions recorded in the window per matched rule row, and how many were "
    "overridden by a person.",
)
def override_rate(window: Window) -> ReportTable:
    rates = sorted(
        override_rates(window), key=lambda rate: (-rate.rate, rate.rule_set, rate.rule_id)
    )
    return ReportTable(
        title="Override rate per rule row",
        columns=("rule_set", "rule_row", "decisions", "overrides", "override_rate"),
        rows=[
            (r.rule_set, r.rule_id or "(no row matched)", r.decisions, r.overrides, r.rate)
            for r in rates
        ],
        window=window,
        notes=("From decision records and overrides (not events in the log).",),
    )
