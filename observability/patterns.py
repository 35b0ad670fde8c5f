"""Recurring patterns: the exceptions that keep coming back, grouped by cause and counted
per ISO week, and the rule rows their overrides have eaten.

A cause signature is what stays the same when the same failure happens to another order:
- dead letter: workflow, step, error kind and the error message with its numbers, ids,
  uuids, hashes and times replaced by placeholders (execution.dead events);
- escalation: workflow, step, queue and the group it escalated to (task.escalated events);
- override: the rule row whose recommendation a person overrode (decisions.Override);
- rejection: the problem code and the integration (or channel) refused (integrations.Rejection,
  weighted by its `count`).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings

from audit.models import Event
from decisions.models import Override
from integrations.models import Rejection
from observability.reports.log import STREAM_CHUNK, definitions_by_content_type
from observability.reports.overrides import RuleRowRate, override_rates
from observability.reports.registry import ReportTable, register
from observability.reports.window import Window

# Most specific first: a uuid or a timestamp is full of numbers the last rule would eat.
NORMALISERS = (
    (
        re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
        "<uuid>",
    ),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
        ),
        "<time>",
    ),
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
)
SIGNATURE_MAX = 300
ERROR_KIND = re.compile(r"^([A-Za-z_][\w.]*): (.*)$", re.S)


def normalise_message(text: str) -> str:
    """The message with what varies between occurrences (numbers, ids, times) replaced."""
    for pattern, placeholder in NORMALISERS:
        text = pattern.sub(placeholder, text)
    return text.strip()[:SIGNATURE_MAX]


def error_kind_and_message(error: str) -> tuple[str, str]:
    """The engine records a failure as "<ExceptionClass>: <message>"."""
    found = ERROR_KIND.match(error)
    return (found.group(1), found.group(2)) if found else ("", error)


@dataclass(frozen=True)
class Occurrence:
    kind: str
    signature: str
    at: datetime
    example: str
    weight: int = 1


def _events(window: Window, event_type: str):
    return (
        Event.objects.filter(
            type=event_type, occurred_at__gte=window.since, occurred_at__lt=window.until
        )
        .order_by("seq")
        .values_list("instance_type_id", "occurred_at", "payload")
        .iterator(chunk_size=STREAM_CHUNK)
    )


def dead_letters(window: Window) -> Iterator[Occurrence]:
    definitions = definitions_by_content_type()
    for type_id, occurred_at, payload in _events(window, "execution.dead"):
        definition = definitions.get(type_id)
        workflow = definition.name if definition else "?"
        error = str(payload.get("error") or "")
        kind, message = error_kind_and_message(error)
        yield Occurrence(
            "dead letter",
            f"{workflow} {payload.get('step', '?')} | {kind or '?'} | {normalise_message(message)}",
            occurred_at,
            error[:SIGNATURE_MAX],
        )


def escalations(window: Window) -> Iterator[Occurrence]:
    definitions = definitions_by_content_type()
    for type_id, occurred_at, payload in _events(window, "task.escalated"):
        definition = definitions.get(type_id)
        workflow = definition.name if definition else "?"
        route = f"{payload.get('queue', '?')} -> {payload.get('escalated_to', '?')}"
        yield Occurrence(
            "escalation",
            f"{workflow} {payload.get('step', '?')} | {route}",
            occurred_at,
            f"task {payload.get('task')} escalated to level {payload.get('escalation_level')}",
        )


def overrides(window: Window) -> Iterator[Occurrence]:
    rows = (
        Override.objects.filter(created_at__gte=window.since, created_at__lt=window.until)
        .values_list("rule_set__slug", "rule_id", "created_at", "reason")
        .iterator(chunk_size=STREAM_CHUNK)
    )
    for slug, rule_id, created_at, reason in rows:
        yield Occurrence("override", _rule_row(slug, rule_id), created_at, reason[:SIGNATURE_MAX])


def rejections(window: Window) -> Iterator[Occurrence]:
    rows = (
        Rejection.objects.filter(received_at__gte=window.since, received_at__lt=window.until)
        .values_list("problem", "integration__name", "channel", "received_at", "detail", "count")
        .iterator(chunk_size=STREAM_CHUNK)
    )
    for problem, integration, channel, received_at, detail, count in rows:
        yield Occurrence(
            "rejection",
            f"{problem} | {integration or f'({channel})'}",
            received_at,
            detail[:SIGNATURE_MAX],
            count,
        )


SOURCES = (dead_letters, rejections, overrides, escalations)


def _rule_row(slug: str, rule_id: str) -> str:
    return f"{slug} row {rule_id or '(none matched)'}"


# --- weeks and growth ----------------------------------------------------------------------


def iso_week(moment: datetime) -> str:
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def weeks_of(window: Window) -> list[str]:
    """The ISO weeks the window touches, oldest first; the last is "this week"."""
    weeks: list[str] = []
    moment = window.since
    last = window.until - timedelta(microseconds=1)
    while True:
        week = iso_week(moment)
        if week not in weeks:
            weeks.append(week)
        if moment >= last:
            return weeks
        moment = min(moment + timedelta(days=7), last)


@dataclass(frozen=True)
class Pattern:
    kind: str
    signature: str
    example: str
    per_week: dict[str, int]
    this_week: int
    previous_mean: float
    flag: str = ""

    @property
    def total(self) -> int:
        return sum(self.per_week.values())

    @property
    def trend(self) -> str:
        if self.this_week and not self.previous_mean:
            return "new"
        if self.this_week > self.previous_mean:
            return "growing"
        if self.this_week < self.previous_mean:
            return "shrinking"
        return "steady"

    @property
    def growing(self) -> bool:
        return self.trend in ("new", "growing")


def group_occurrences(occurrences: Iterable[Occurrence], *, weeks: list[str]) -> list[Pattern]:
    """Count occurrences per (kind, signature) and ISO week; compare the last week with the
    mean of the weeks before it (a week with none counts as zero)."""
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    examples: dict[tuple[str, str], str] = {}
    for occurrence in occurrences:
        key = (occurrence.kind, occurrence.signature)
        counts[key][iso_week(occurrence.at)] += occurrence.weight
        examples.setdefault(key, occurrence.example)
    patterns = []
    *previous, this = weeks
    for (kind, signature), per_week in counts.items():
        patterns.append(
            Pattern(
                kind=kind,
                signature=signature,
                example=examples[(kind, signature)],
                per_week={week: per_week[week] for week in weeks},
                this_week=per_week[this],
                previous_mean=(
                    round(sum(per_week[week] for week in previous) / len(previous), 2)
                    if previous
                    else 0.0
                ),
            )
        )
    return sorted(
        patterns, key=lambda p: (not p.growing, -p.this_week, -p.total, p.kind, p.signature)
    )


# --- the exception that ate the rule -------------------------------------------------------


def rules_eaten_by_exceptions(
    window: Window, *, rate: float | None = None, min_decisions: int | None = None
) -> list[RuleRowRate]:
    """Rule rows overridden in more than `rate` of at least `min_decisions` decisions: the
    rule says one thing and people keep doing another, so the rule no longer describes the
    work (settings OPSCORE_RULE_EATEN_OVERRIDE_RATE and OPSCORE_RULE_EATEN_MIN_DECISIONS)."""
    rate = settings.OPSCORE_RULE_EATEN_OVERRIDE_RATE if rate is None else rate
    least = settings.OPSCORE_RULE_EATEN_MIN_DECISIONS if min_decisions is None else min_decisions
    return [
        row
        for row in override_rates(window)
        if row.decisions >= least and row.overrides / row.decisions > rate
    ]


def recurring_patterns(window: Window) -> list[Pattern]:
    weeks = weeks_of(window)
    patterns = group_occurrences(
        (occurrence for source in SOURCES for occurrence in source(window)), weeks=weeks
    )
    eaten = {
        _rule_row(row.rule_set, row.rule_id): (
            f"ate the rule: {row.overrides}/{row.decisions} decisions overridden"
        )
        for row in rules_eaten_by_exceptions(window)
    }
    return [
        Pattern(**{**pattern.__dict__, "flag": eaten.get(pattern.signature, "")})
        if pattern.kind == "override"
        else pattern
        for pattern in patterns
    ]


@register(
    name="patterns",
    title="Recurring patterns",
    description="Dead letters, rejections, overrides and escalations grouped by cause, per ISO "
    "week, growing ones first; rule rows eaten by their overrides flagged.",
    default_span=timedelta(weeks=4),
)
def patterns_report(window: Window) -> ReportTable:
    weeks = weeks_of(window)
    patterns = recurring_patterns(window)
    return ReportTable(
        title="Recurring patterns",
        columns=(
            "kind",
            "signature",
            *weeks,
            "total",
            "this_week",
            "previous_mean",
            "trend",
            "flag",
            "example",
        ),
        rows=[
            (
                p.kind,
                p.signature,
                *(p.per_week[week] for week in weeks),
                p.total,
                p.this_week,
                p.previous_mean,
                p.trend,
                p.flag,
                p.example,
            )
            for p in patterns
        ],
        window=window,
        notes=(
            f"Weeks are ISO weeks in UTC; this week is {weeks[-1]} (possibly partial), compared "
            "with the mean of the weeks before it in the window.",
            "A rule row is flagged when over "
            f"{settings.OPSCORE_RULE_EATEN_OVERRIDE_RATE:.0%} of at least "
            f"{settings.OPSCORE_RULE_EATEN_MIN_DECISIONS} decisions were overridden.",
        ),
    )
