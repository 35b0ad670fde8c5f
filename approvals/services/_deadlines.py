"""When the sweeper next has something to do for a task, from the task's state alone."""

from __future__ import annotations

from datetime import datetime, timedelta

from approvals.models import ReviewTask


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def next_action_at(task: ReviewTask) -> datetime | None:
    """When the sweeper next has something to do for this task, from its state alone."""
    snapshot = task.policy_snapshot
    if not snapshot:
        return None
    levels = snapshot["levels"]
    if task.escalation_level == 0:
        if task.reminder_at and task.reminded_at is None and task.reminder_at < task.due_at:
            return task.reminder_at
        return task.due_at
    if task.escalation_level < len(levels):
        return task.escalated_at + timedelta(
            seconds=snapshot["level_after_seconds"][task.escalation_level - 1]
        )
    expire_after = _seconds(snapshot.get("expire_after_seconds"))
    return task.escalated_at + expire_after if expire_after else None
