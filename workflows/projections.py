"""Rebuild workflow instances from the event log alone, and compare with the tables.

The comparison streams: the log is replayed one instance at a time, in instance order, beside
the table read in the same order, so memory stays flat however long the log grows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType

from audit.models import Event
from opscore.db.snapshot import read_snapshot
from opscore.merge_join import merge_join
from workflows.declaration import WorkflowDefinition

STATE_EVENTS = ("workflow.started", "workflow.transition")
CHUNK_ROWS = 2000
# Differences kept as text for the report; beyond them only the count grows.
DIFFERENCES_KEPT = 1000


@dataclass
class RebuiltInstance:
    state: str
    version: int
    context: dict[str, Any]
    started: bool = True


@dataclass
class ProjectionReport:
    workflow: str
    rebuilt: int = 0
    differences: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.differences

    def add(self, line: str) -> None:
        self.differences += 1
        if len(self.mismatches) < DIFFERENCES_KEPT:
            self.mismatches.append(line)


# Other projections of the log that check_projections compares when it checks everything, as
# (label, noun, compare), compare() returning a report with `rebuilt`, `differences` and
# `mismatches` as ProjectionReport has them; the layers that own them append
# here in their AppConfig.ready() (approvals: review tasks).
PROJECTION_CHECKS: list[tuple[str, str, Callable[[], Any]]] = []


def replay_instances(*, definition: WorkflowDefinition) -> Iterator[tuple[int, RebuiltInstance]]:
    """Each instance as its `workflow.started` and `workflow.transition` events leave it, one
    at a time, in instance id order: the order of the log's (instance type, instance, seq)
    index, so the database streams them without sorting."""
    content_type = ContentType.objects.get_for_model(definition.model)
    events = (
        Event.objects.filter(instance_type=content_type, type__in=STATE_EVENTS)
        .order_by("instance_id", "seq")
        .values_list("instance_id", "type", "payload")
        .iterator(chunk_size=CHUNK_ROWS)
    )
    current_id: int | None = None
    current: RebuiltInstance | None = None
    for instance_id, event_type, payload in events:
        if instance_id != current_id:
            if current is not None:
                yield current_id, current
            current_id, current = instance_id, None
        if event_type == "workflow.started":
            current = RebuiltInstance(
                state=payload["state"], version=payload["version"], context=payload["context"]
            )
            continue
        if current is None:  # a transition whose start is missing from the log
            current = RebuiltInstance(state="", version=0, context={}, started=False)
        current.state = payload["target"]
        current.version = payload["version"]
        current.context = {**current.context, **payload["context_update"]}
    if current is not None:
        yield current_id, current


def rebuild_instances(*, definition: WorkflowDefinition) -> dict[int, RebuiltInstance]:
    """Every instance rebuilt from the log, keyed by id: all of them in memory at once, for
    a look at a few; `compare_with_tables` streams instead."""
    return dict(replay_instances(definition=definition))


def compare_with_tables(*, definition: WorkflowDefinition) -> ProjectionReport:
    """Replay the log beside the table, in one snapshot; report each difference."""
    report = ProjectionReport(workflow=definition.name)
    name = definition.name
    with read_snapshot():
        rows = (
            definition.model.objects.order_by("pk")
            .values_list("pk", "state", "version", "context")
            .iterator(chunk_size=CHUNK_ROWS)
        )
        joined = merge_join(
            replay_instances(definition=definition),
            rows,
            left_key=lambda replayed: replayed[0],
            right_key=lambda row: row[0],
        )
        for pk, replayed, row in joined:
            if replayed is not None:
                report.rebuilt += 1
            if row is None:
                report.add(f"{name} #{pk}: in the log, not in the table")
                continue
            if replayed is None:
                report.add(f"{name} #{pk}: in the table, not in the log")
                continue
            expected = replayed[1]
            if not expected.started:
                report.add(f"{name} #{pk}: its workflow.started event is not in the log")
            _, state, version, context = row
            for field_name, table_value, log_value in (
                ("state", state, expected.state),
                ("version", version, expected.version),
                ("context", context, expected.context),
            ):
                if table_value != log_value:
                    report.add(
                        f"{name} #{pk}: {field_name} is {table_value!r} in the table, "
                        f"{log_value!r} from the log"
                    )
    return report
