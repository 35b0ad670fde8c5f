"""Rejection rate per integration: refused requests against accepted inbound events.

Neither is an event in the log: an accepted event is an integrations.InboundEvent row, a
refusal an integrations.Rejection row written after the attempted work rolled back (nothing
of it reached the log). Unauthenticated refusals aggregate into one row with a `count`, so
rejections are summed by `count`, not rows. A caller that is not an integration (a person in
admin, a schedule, or a request refused before it was identified) is shown by its channel.
"""

from __future__ import annotations

from collections import Counter

from django.db.models import Count, Sum

from integrations.models import InboundEvent, Rejection
from observability.reports.registry import ReportTable, register
from observability.reports.window import Window


def _caller(integration: str | None, channel: str) -> str:
    return integration or f"({channel})"


@register(
    name="rejections",
    title="Rejection rate per integration",
    description="Requests refused / (refused + accepted) per integration in the window, with "
    "the most frequent problem.",
)
def rejection_rate(window: Window) -> ReportTable:
    accepted: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    problems: dict[str, Counter[str]] = {}
    for integration, channel, n in (
        InboundEvent.objects.filter(received_at__gte=window.since, received_at__lt=window.until)
        .values_list("integration__name", "channel")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("integration__name", "channel", "n")
    ):
        accepted[_caller(integration, channel)] += n
    for integration, channel, problem, n in (
        Rejection.objects.filter(received_at__gte=window.since, received_at__lt=window.until)
        .values_list("integration__name", "channel", "problem")
        .annotate(n=Sum("count"))
        .order_by()
        .values_list("integration__name", "channel", "problem", "n")
    ):
        caller = _caller(integration, channel)
        rejected[caller] += n
        problems.setdefault(caller, Counter())[problem] += n
    rows = []
    for caller in sorted(set(accepted) | set(rejected)):
        total = accepted[caller] + rejected[caller]
        top = problems.get(caller, Counter()).most_common(1)
        rows.append(
            (
                caller,
                accepted[caller],
                rejected[caller],
                round(rejected[caller] / total, 4),
                f"{top[0][0]} ({top[0][1]})" if top else "",
            )
        )
    return ReportTable(
        title="Rejection rate per integration",
        columns=("integration", "accepted", "rejected", "rejection_rate", "top_problem"),
        rows=rows,
        window=window,
        notes=("From inbound events and rejections (refusals write nothing to the log).",),
    )
