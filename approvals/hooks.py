"""What a human step does as an instance enters or leaves it: open or close its review task.

Definitions name these as `HumanStep.on_enter` / `on_exit`; the engine calls them inside the
transition's transaction, so a task exists exactly while the instance waits in the step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workflows.models import WorkflowInstance
    from workflows.registry import Decision


def open_review_task(instance: WorkflowInstance) -> None:
    # Imported here: workflow definitions load at app start, before the approvals models.
    from approvals.services import open_task
    from workflows import registry

    step = registry.for_model(type(instance)).step_for_state(instance.state)
    open_task(instance=instance, step=step)


def close_review_task(instance: WorkflowInstance, transition: str) -> None:
    from approvals.services import close_tasks_on_exit

    close_tasks_on_exit(instance=instance, transition=transition)


def confirm_decision(instance: WorkflowInstance, transition: str, decision: Decision) -> bool:
    """Whether `decision` names this step's task, decided as `transition` at the instance's
    current version: what the approvals service writes, under the task's row lock, just
    before it asks the engine to move the instance."""
    from django.contrib.contenttypes.models import ContentType

    from approvals.models import ReviewTask, TaskStatus

    return ReviewTask.objects.filter(
        pk=decision.task_id,
        instance_type=ContentType.objects.get_for_model(instance),
        instance_id=instance.pk,
        instance_version=instance.version,
        step=decision.step,
        outcome=transition,
        status__in=[TaskStatus.APPROVED, TaskStatus.REJECTED, TaskStatus.EXPIRED],
    ).exists()
