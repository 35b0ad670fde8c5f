"""SLA attainment per review queue: of the tasks decided in the window, how many in time.

Read from the closing events (task.approved, task.rejected, task.expired): each carries the
task's queue and its due time at that moment, so "in time" is occurred_at <= due_at. An
expired task is a breach by definition. Cancelled tasks (the instance left the step another
way) had no decision to make and are left out; still-open tasks are the overview's and the
metrics' concern, not this report's.
"""

from __future__ import annotations

from collections import Counter

from audit.models import Event
from observability.reports.log import STREAM_CHUNK, payload_time
from observability.reports.registry import ReportTable, register
from observability.reports.window import Window

DECIDED = ("task.approved", "task.rejected")
EXPIRED = "task.expired"


@register(
    name="sla",
    title="SLA attainment per queue",
    description="Review tasks decided or expired in the window: in time against their due time.",
)
def sla_attainment(window: Window) -> ReportTable:
    closed: Counter[str] = Counter()
    in_time: Counter[str] = Counter()
    expired: Counter[str] = Counter()
    rows = Event.objects.filter(
        type__in=(*DECIDED, EXPIRED),
        occurred_at__gte=window.since,
        occurred_at__lt=window.until,
    ).values_list("type", "occurred_at", "payload")
    for event_type, occurred_at, payload in rows.iterator(chunk_size=STREAM_CHUNK):
        queue = str(payload.get("queue") or "?")
        closed[queue] += 1
        if event_type == EXPIRED:
            expired[queue] += 1
            continue
        due_at = payload_time(payload.get("due_at"))
        if due_at is not None and occurred_at <= due_at:
            in_time[queue] += 1
    return ReportTable(
        title="SLA attainment per queue",
        columns=("queue", "closed", "in_time", "breached", "expired", "attainment"),
        rows=[
            (
                queue,
                total,
                in_time[queue],
                total - in_time[queue],
                expired[queue],
                round(in_time[queue] / total, 4),
            )
            for queue, total in sorted(closed.items())
        ],
        window=window,
        notes=("attainment = in_time / closed; expired tasks count as breached.",),
    )
