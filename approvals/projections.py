"""Rebuild the review-task list from the event log alone, and compare with the table.

Every `task.*` event carries the task's state after the change (status, queue, assignee, due
time, escalation level), so the last event of each task is what the table must hold. The
comparison streams, one workflow instance's tasks at a time, so memory stays flat as the log
grows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from approvals.models import ReviewTask
from audit.hashing import normalize_payload
from audit.models import Event
from opscore.db.snapshot import read_snapshot
from opscore.merge_join import merge_join

COMPARED = ("step", "status", "queue", "assignee", "due_at", "escalation_level")
CHUNK_ROWS = 2000
# Differences kept as text for the report; beyond them only the count grows.
DIFFERENCES_KEPT = 1000


@dataclass
class TaskProjectionReport:
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


InstanceKey = tuple[int, int]


def _replay_by_instance() -> Iterator[tuple[InstanceKey, dict[int, dict[str, Any]]]]:
    """The tasks of one workflow instance at a time, each as its last `task.*` event left it,
    in (instance type, instance) order: the log's (instance type, instance, seq) index."""
    events = (
        # A task always belongs to an instance; NULLs would sort apart on each backend.
        Event.objects.filter(type__startswith="task.", instance_id__isnull=False)
        .order_by("instance_type_id", "instance_id", "seq")
        .values_list("instance_type_id", "instance_id", "payload")
        .iterator(chunk_size=CHUNK_ROWS)
    )
    for key, group in itertools.groupby(events, key=lambda event: (event[0], event[1])):
        tasks: dict[int, dict[str, Any]] = {}
        for instance_type_id, instance_id, payload in group:
            tasks[payload["task"]] = {
                "instance": (instance_type_id, instance_id),
                **{name: payload.get(name) for name in COMPARED},
            }
        yield key, tasks


def rebuild_tasks() -> dict[int, dict[str, Any]]:
    """Every task rebuilt from the log, keyed by task id: all in memory at once, for a look
    at a few; `compare_tasks_with_table` streams instead."""
    rebuilt: dict[int, dict[str, Any]] = {}
    for _, tasks in _replay_by_instance():
        rebuilt.update(tasks)
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


def _table_by_instance() -> Iterator[tuple[InstanceKey, list[dict[str, Any]]]]:
    rows = (
        ReviewTask.objects.order_by("instance_type_id", "instance_id", "pk")
        .values(
            "pk",
            "instance_type_id",
            "instance_id",
            "step",
            "status",
            "queue__name",
            "assignee__username",
            "due_at",
            "escalation_level",
        )
        .iterator(chunk_size=CHUNK_ROWS)
    )
    for key, group in itertools.groupby(
        rows, key=lambda row: (row["instance_type_id"], row["instance_id"])
    ):
        yield key, list(group)


def compare_tasks_with_table() -> TaskProjectionReport:
    """Replay the log's task events beside the task table, one workflow instance's tasks at
    a time and in one snapshot; report each difference."""
    report = TaskProjectionReport()
    with read_snapshot():
        joined = merge_join(
            _replay_by_instance(),
            _table_by_instance(),
            left_key=lambda replayed: replayed[0],
            right_key=lambda rows: rows[0],
        )
        for _, replayed, table in joined:
            rebuilt = replayed[1] if replayed is not None else {}
            report.rebuilt += len(rebuilt)
            seen = set()
            for row in table[1] if table is not None else []:
                pk = row["pk"]
                seen.add(pk)
                expected = rebuilt.get(pk)
                if expected is None:
                    report.add(f"review task #{pk}: in the table, not in the log")
                    continue
                from_table = _table_row(row)
                from_log = normalize_payload({**expected, "instance": list(expected["instance"])})
                for name in ("instance", *COMPARED):
                    if from_table[name] != from_log[name]:
                        report.add(
                            f"review task #{pk}: {name} is {from_table[name]!r} in the table, "
                            f"{from_log[name]!r} from the log"
                        )
            for pk in sorted(rebuilt.keys() - seen):
                report.add(f"review task #{pk}: in the log, not in the table")
    return report
