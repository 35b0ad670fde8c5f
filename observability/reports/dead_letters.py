"""Dead-letter rate per machine step: executions that went dead against those that finished.

From the log alone: execution.dead carries the step and the idempotency key; a success is
the engine's transition whose `data` names the step and key (the engine records no separate
"execution.succeeded" event). Counted in the database, by distinct idempotency key, so an
execution that failed several attempts before going dead counts once.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count
from django.db.models.fields.json import KT

from audit.models import Event
from observability.reports.log import definitions_by_content_type
from observability.reports.registry import ReportTable, register
from observability.reports.window import Window


def _distinct_keys(events, *, step: str, key: str) -> dict[tuple[int, str], int]:
    grouped = (
        events.annotate(step=KT(step), key=KT(key))
        .exclude(step=None)
        .values("instance_type_id", "step")
        .annotate(n=Count("key", distinct=True))
        .order_by()
    )
    return {(row["instance_type_id"], row["step"]): row["n"] for row in grouped}


@register(
    name="dead-letters",
    title="Dead-letter rate per step",
    description="Executions that finished in the window, by step: dead letters / (dead + "
    "succeeded), and failed attempts on the way.",
)
def dead_letter_rate(window: Window) -> ReportTable:
    definitions = definitions_by_content_type()
    in_window = Event.objects.filter(occurred_at__gte=window.since, occurred_at__lt=window.until)
    dead = _distinct_keys(
        in_window.filter(type="execution.dead"),
        step="payload__step",
        key="payload__idempotency_key",
    )
    succeeded = _distinct_keys(
        in_window.filter(type="workflow.transition"),
        step="payload__data__step",
        key="payload__data__idempotency_key",
    )
    attempts = defaultdict(int)
    for type_id, step, n in (
        in_window.filter(type="execution.attempt_failed")
        .annotate(step=KT("payload__step"))
        .values("instance_type_id", "step")
        .annotate(n=Count("seq"))
        .order_by()
        .values_list("instance_type_id", "step", "n")
    ):
        attempts[(type_id, step)] += n
    rows = []
    for type_id, step in sorted(set(dead) | set(succeeded), key=lambda k: (k[0], k[1])):
        definition = definitions.get(type_id)
        workflow = definition.name if definition else f"content type {type_id}"
        went_dead = dead.get((type_id, step), 0)
        finished = went_dead + succeeded.get((type_id, step), 0)
        rows.append(
            (
                workflow,
                step,
                finished,
                went_dead,
                attempts[(type_id, step)],
                round(went_dead / finished, 4),
            )
        )
    return ReportTable(
        title="Dead-letter rate per step",
        columns=("workflow", "step", "finished", "dead", "failed_attempts", "dead_rate"),
        rows=sorted(rows),
        window=window,
        notes=(
            "dead_rate = dead / finished; an execution retried after going dead and then "
            "succeeding in the same window counts in both.",
        ),
    )
