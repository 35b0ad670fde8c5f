"""Reads of the decision layer: published versions, records, backtests, override rates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Model, Q, QuerySet

from decisions.errors import NoPublishedVersion, UnknownRuleSet
from decisions.models import (
    Backtest,
    DecisionRecord,
    Override,
    RuleSet,
    RuleSetVersion,
    VersionStatus,
)
from decisions.tables import from_jdm
from workflows.selectors import Visibility


def existing_rule_set_slugs(*, slugs) -> set[str]:
    """Which of `slugs` name a rule set."""
    return set(RuleSet.objects.filter(slug__in=list(slugs)).values_list("slug", flat=True))


def ruleset_by_slug(*, slug: str) -> RuleSet:
    try:
        return RuleSet.objects.get(slug=slug)
    except RuleSet.DoesNotExist:
        raise UnknownRuleSet(f"no rule set named {slug!r}") from None


def published_version(*, rule_set: RuleSet) -> RuleSetVersion:
    version = RuleSetVersion.objects.filter(
        rule_set=rule_set, status=VersionStatus.PUBLISHED
    ).first()
    if version is None:
        raise NoPublishedVersion(
            f"rule set {rule_set.slug!r} has no published version: publish one (or roll back) "
            "before decisions can be made with it"
        )
    return version


def decision_records(
    *,
    rule_set: str | None = None,
    instance: Model | None = None,
    visibility: Visibility | None = None,
) -> QuerySet[DecisionRecord]:
    """Decision records; with a `visibility`, those of instances it shows and those of none."""
    records = DecisionRecord.objects.select_related("rule_set", "version")
    if visibility is not None:
        records = records.filter(Q(instance_type__isnull=True) | visibility.instance_filter())
    if rule_set:
        records = records.filter(rule_set__slug=rule_set)
    if instance is not None:
        records = records.filter(
            instance_type=ContentType.objects.get_for_model(instance), instance_id=instance.pk
        )
    return records


def latest_decision_for(*, instance: Model, rule_set: str) -> DecisionRecord | None:
    return decision_records(rule_set=rule_set, instance=instance).first()


def latest_backtest(*, version: RuleSetVersion) -> Backtest | None:
    return version.backtests.first()


def previous_published_version(*, rule_set: RuleSet) -> RuleSetVersion | None:
    """The version a roll back returns to: the last one published before the current one."""
    return (
        RuleSetVersion.objects.filter(
            rule_set=rule_set, status=VersionStatus.RETIRED, published_at__isnull=False
        )
        .order_by("-published_at", "-number")
        .first()
    )


@dataclass(frozen=True)
class OverrideRate:
    rule_set: str
    rule_id: str
    rule_description: str
    decisions: int
    overrides: int

    @property
    def rate(self) -> float:
        return self.overrides / self.decisions if self.decisions else 0.0


def override_rates_by_ruleset() -> list[OverrideRate]:
    """Per rule set: overrides / decisions recorded with it."""
    decisions = dict(
        DecisionRecord.objects.values_list("rule_set__slug").annotate(n=Count("id")).order_by()
    )
    overrides = dict(
        Override.objects.values_list("rule_set__slug").annotate(n=Count("id")).order_by()
    )
    return [
        OverrideRate(slug, "", "", decisions.get(slug, 0), overrides.get(slug, 0))
        for slug in RuleSet.objects.values_list("slug", flat=True)
    ]


def override_rates_by_rule(*, rule_set: RuleSet) -> list[OverrideRate]:
    """Per matched row of one rule set, highest override rate first."""
    decisions = dict(
        DecisionRecord.objects.filter(rule_set=rule_set)
        .values_list("primary_rule_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    overrides = dict(
        Override.objects.filter(rule_set=rule_set)
        .values_list("rule_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    descriptions = _rule_descriptions(rule_set=rule_set)
    rates = [
        OverrideRate(
            rule_set.slug, rule_id, descriptions.get(rule_id, ""), count, overrides.get(rule_id, 0)
        )
        for rule_id, count in decisions.items()
    ]
    return sorted(rates, key=lambda rate: (-rate.rate, rate.rule_id))


def _rule_descriptions(*, rule_set: RuleSet) -> dict[str, str]:
    descriptions: dict[str, str] = {}
    for content in (
        RuleSetVersion.objects.filter(rule_set=rule_set)
        .order_by("number")
        .values_list("content", flat=True)
    ):
        for row in from_jdm(content).rows:
            descriptions[row.id] = row.description
    return descriptions


def latest_decision_before(
    *, instance_type_id: int, instance_id: int, moment: datetime
) -> DecisionRecord | None:
    """The instance's latest decision record made at or before `moment`."""
    return (
        DecisionRecord.objects.select_related("rule_set", "version")
        .filter(instance_type_id=instance_type_id, instance_id=instance_id, created_at__lte=moment)
        .order_by("-created_at", "-id")
        .first()
    )
