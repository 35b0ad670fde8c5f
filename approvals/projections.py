"""Rebuild the review-task list from the event log alone, and compare with the table.

Every `task.*` event carries the task's state after the change (status, queue, assignee, due
time, escalation level), so the last event of each task is what the table must hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from approvals.models import ReviewTask
from audit.hashing import normalize_payload
from audit.models import Event

COMPARED = ("step", "status", "queue", "assignee", "due_at", "escalation_level")


@dataclass
class TaskProjectionReport:
    rebuilt: int
    mismatches: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.mismatches


def rebuild_tasks() -> dict[int, dict[str, Any]]:
    """Each task as its last `task.*` event left it, keyed by task id."""
    rebuilt: dict[int, dict[str, Any]] = {}
    events = (
        Event.objects.filter(type__startswith="task.")
        .order_by("seq")
        .values_list("instance_type_id", "instance_id", "payload")
        .iterator(chunk_size=5000)
    )
    for instance_type_id, instance_id, payload in events:
        rebuilt[payload["task"]] = {
            "instance": (instance_type_id, instance_id),
            **{name: payload.get(name) for name in COMPARED},
        }
    return rebuilt


def _table_row(task: dict[str, Any]) -> dict[str, Any]:
    # Encoded the way the log stores values, so a datetime compares at the log's precision.
    return normalize_payload(
        {
            "instance": [task["instance_type_id"], task["instance_id"]],
            "step": task["step"],
            "status": task["status"],
            "queue": task["queue__name"],
            "assignee": task["assignee__username"],
            "due_at": task["due_at"],
            "escalation_level": task["escalation_level"],
        }
    )


def compare_tasks_with_table() -> TaskProjectionReport:
    rebuilt = rebuild_tasks()
    report = TaskProjectionReport(rebuilt=len(rebuilt))
    rows = ReviewTask.objects.values(
        "pk",
        "instance_type_id",
        "instance_id",
        "step",
        "status",
        "queue__name",
        "assignee__username",
        "due_at",
        "escalation_level",
    ).iterator(chunk_size=5000)
    seen = set()
    for row in rows:
        pk = row["pk"]
        seen.add(pk)
        expected = rebuilt.get(pk)
        if expected is None:
            report.mismatches.append(f"review task #{pk}: in the table, not in the log")
            continue
        table = _table_row(row)
        from_log = normalize_payload({**expected, "instance": list(expected["instance"])})
        for name in ("instance", *COMPARED):
            if table[name] != from_log[name]:
                report.mismatches.append(
                    f"review task #{pk}: {name} is {table[name]!r} in the table, "
                    f"{from_log[name]!r} from the log"
                )
    for pk in rebuilt.keys() - seen:
        report.mismatches.append(f"review task #{pk}: in the log, not in the table")
    return report
