"""Rebuild workflow instances from the event log alone, and compare with the tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType

from audit.models import Event
from workflows.registry import WorkflowDefinition


@dataclass
class RebuiltInstance:
    state: str
    version: int
    context: dict[str, Any]


@dataclass
class ProjectionReport:
    workflow: str
    rebuilt: int
    mismatches: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.mismatches


def rebuild_instances(*, definition: WorkflowDefinition) -> dict[int, RebuiltInstance]:
    """Replay `workflow.started` and `workflow.transition` events in sequence order."""
    content_type = ContentType.objects.get_for_model(definition.model)
    rebuilt: dict[int, RebuiltInstance] = {}
    events = (
        Event.objects.filter(
            instance_type=content_type, type__in=["workflow.started", "workflow.transition"]
        )
        .order_by("seq")
        .values_list("instance_id", "type", "payload")
        .iterator(chunk_size=5000)
    )
    for instance_id, event_type, payload in events:
        if event_type == "workflow.started":
            rebuilt[instance_id] = RebuiltInstance(
                state=payload["state"], version=payload["version"], context=payload["context"]
            )
            continue
        current = rebuilt[instance_id]
        current.state = payload["target"]
        current.version = payload["version"]
        current.context = {**current.context, **payload["context_update"]}
    return rebuilt


def compare_with_tables(*, definition: WorkflowDefinition) -> ProjectionReport:
    rebuilt = rebuild_instances(definition=definition)
    report = ProjectionReport(workflow=definition.name, rebuilt=len(rebuilt))
    rows = definition.model.objects.values_list("pk", "state", "version", "context").iterator(
        chunk_size=5000
    )
    seen = set()
    for pk, state, version, context in rows:
        seen.add(pk)
        expected = rebuilt.get(pk)
        if expected is None:
            report.mismatches.append(f"{definition.name} #{pk}: in the table, not in the log")
            continue
        for name, table_value, log_value in (
            ("state", state, expected.state),
            ("version", version, expected.version),
            ("context", context, expected.context),
        ):
            if table_value != log_value:
                report.mismatches.append(
                    f"{definition.name} #{pk}: {name} is {table_value!r} in the table, "
                    f"{log_value!r} from the log"
                )
    for pk in rebuilt.keys() - seen:
        report.mismatches.append(f"{definition.name} #{pk}: in the log, not in the table")
    return report
