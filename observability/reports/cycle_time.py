"""Cycle time per workflow (start to a terminal state) and time spent in each step.

Derived from workflow.started and workflow.transition alone: the started event carries the
initial state, each transition its source and target, so the time an instance spent in a
state (and so in the step that owns the state) is the gap between the event that entered it
and the one that left it. No engine event names a step's end directly; this works for machine,
human and wait steps alike, and for events written before any report existed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from observability.reports.log import definitions_by_content_type, state_events_touching
from observability.reports.percentiles import summary
from observability.reports.registry import ReportTable, register
from observability.reports.window import Window

PERCENTILE_NOTE = (
    "Seconds; p50/p90/p99 by linear interpolation (PostgreSQL's percentile_cont), computed "
    "while streaming the log in order."
)


def _durations(window: Window) -> tuple[dict, dict]:
    """({(workflow, terminal state): [seconds]}, {(workflow, step): [seconds]}) of cycles and
    step stays that ended inside the window."""
    definitions = definitions_by_content_type()
    cycles: dict[tuple[str, str], list[float]] = defaultdict(list)
    stays: dict[tuple[str, str], list[float]] = defaultdict(list)
    current: tuple[int, int] | None = None
    started_at: datetime | None = None
    entered_at: datetime | None = None
    for type_id, instance_id, event_type, occurred_at, source, target in state_events_touching(
        window
    ):
        definition = definitions.get(type_id)
        if definition is None:
            continue
        if (type_id, instance_id) != current:
            current, started_at, entered_at = (type_id, instance_id), None, None
        if event_type == "workflow.started":
            started_at = entered_at = occurred_at
            continue
        in_window = occurred_at >= window.since
        step = definition.step_for_state(source or "")
        if step is not None and entered_at is not None and in_window:
            stays[(definition.name, step.name)].append((occurred_at - entered_at).total_seconds())
        entered_at = occurred_at
        if target in definition.terminal_states and started_at is not None and in_window:
            cycles[(definition.name, target)].append((occurred_at - started_at).total_seconds())
    return cycles, stays


@register(
    name="cycle-time",
    title="Cycle time per workflow",
    description="From workflow.started to the terminal state, for instances that finished in "
    "the window, by outcome.",
)
def cycle_time(window: Window) -> ReportTable:
    cycles, _ = _durations(window)
    return ReportTable(
        title="Cycle time per workflow",
        columns=("workflow", "outcome", "instances", "p50_s", "p90_s", "p99_s"),
        rows=[
            (workflow, outcome, *summary(values))
            for (workflow, outcome), values in sorted(cycles.items())
        ],
        window=window,
        notes=(PERCENTILE_NOTE,),
    )


@register(
    name="step-time",
    title="Time in each step",
    description="From the event that entered a step's state to the one that left it, for stays "
    "that ended in the window.",
)
def step_time(window: Window) -> ReportTable:
    _, stays = _durations(window)
    return ReportTable(
        title="Time in each step",
        columns=("workflow", "step", "stays", "p50_s", "p90_s", "p99_s"),
        rows=[
            (workflow, step, *summary(values)) for (workflow, step), values in sorted(stays.items())
        ],
        window=window,
        notes=(PERCENTILE_NOTE,),
    )
