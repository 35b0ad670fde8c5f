"""Throughput: instances started and finished per hour or per day, per workflow.

Counted in the database (one grouped query per event type, truncated to the bucket in UTC),
on both SQLite and PostgreSQL. "Finished" is a transition into one of the workflow's
terminal states.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, timedelta

from django.db.models import Count
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDay, TruncHour

from audit.models import Event
from observability.reports.registry import ReportTable, register
from observability.reports.window import Window
from workflows import registry


def _throughput(window: Window, *, trunc, label_format: str, title: str) -> ReportTable:
    terminal = sorted(
        {state for definition in registry.all_definitions() for state in definition.terminal_states}
    )
    in_window = Event.objects.filter(occurred_at__gte=window.since, occurred_at__lt=window.until)
    started = in_window.filter(type="workflow.started")
    finished = in_window.filter(type="workflow.transition", payload__target__in=terminal)
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for column, events in enumerate((started, finished)):
        grouped = (
            events.annotate(
                period=trunc("occurred_at", tzinfo=UTC), workflow=KT("payload__workflow")
            )
            .values("period", "workflow")
            .annotate(n=Count("seq"))
            .order_by()
        )
        for row in grouped:
            key = (row["period"].astimezone(UTC).strftime(label_format), row["workflow"] or "?")
            counts[key][column] += row["n"]
    return ReportTable(
        title=title,
        columns=("period", "workflow", "started", "finished"),
        rows=[(period, workflow, *values) for (period, workflow), values in sorted(counts.items())],
        window=window,
        notes=("Periods in UTC; finished = reached a terminal state.",),
    )


@register(
    name="throughput-hourly",
    title="Throughput per hour",
    description="Instances started and finished per hour (UTC), per workflow.",
    default_span=timedelta(hours=24),
)
def throughput_hourly(window: Window) -> ReportTable:
    return _throughput(
        window, trunc=TruncHour, label_format="%Y-%m-%dT%H:00Z", title="Throughput per hour"
    )


@register(
    name="throughput-daily",
    title="Throughput per day",
    description="Instances started and finished per day (UTC), per workflow.",
    default_span=timedelta(days=30),
)
def throughput_daily(window: Window) -> ReportTable:
    return _throughput(window, trunc=TruncDay, label_format="%Y-%m-%d", title="Throughput per day")
