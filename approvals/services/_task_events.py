"""A review task's events, recorded on its instance through the engine."""

from __future__ import annotations

from typing import Any

from django.db.models import Model

from approvals.models import ReviewTask
from opscore.actors import Actor
from workflows import engine


def record_task_event(
    task: ReviewTask,
    *,
    instance: Model,
    type: str,
    actor: Actor,
    extra: dict[str, Any] | None = None,
) -> None:
    engine.record_step_event(
        instance=instance,
        type=type,
        actor=actor,
        payload={
            "task": task.pk,
            "step": task.step,
            "status": task.status,
            "queue": task.queue.name,
            "assignee": task.assignee.get_username() if task.assignee_id else None,
            "due_at": task.due_at,
            "escalation_level": task.escalation_level,
            **(extra or {}),
        },
    )
