"""What a human step does as an instance enters or leaves it: open or close its review task.

Declarations hand them to a human step as `hooks=REVIEW_TASK`; the engine calls them inside
the transition's transaction, so a task exists exactly while the instance waits in the step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from approvals.permissions import WORK_PERMISSION
from workflows.declaration import HumanStepHooks

if TYPE_CHECKING:
    from workflows.declaration import Verdict
    from workflows.models import WorkflowInstance


def open_review_task(instance: WorkflowInstance) -> None:
    # Imported here: workflow definitions load at app start, before the approvals models.
    from approvals.services import open_task
    from workflows import registry

    step = registry.for_model(type(instance)).step_for_state(instance.state)
    open_task(instance=instance, step=step)


def close_review_task(instance: WorkflowInstance, transition: str) -> None:
    from approvals.services import close_tasks_on_exit

    close_tasks_on_exit(instance=instance, transition=transition)


def confirm_verdict(instance: WorkflowInstance, transition: str, verdict: Verdict) -> bool:
    """Whether `decision` names this step's task, decided as `transition` at the instance's
    current version: what the approvals service writes, under the task's row lock, just
    before it asks the engine to move the instance."""
    from django.contrib.contenttypes.models import ContentType

    from approvals.models import ReviewTask, TaskStatus

    return ReviewTask.objects.filter(
        pk=verdict.task_id,
        instance_type=ContentType.objects.get_for_model(instance),
        instance_id=instance.pk,
        instance_version=instance.version,
        step=verdict.step,
        outcome=transition,
        status__in=[TaskStatus.APPROVED, TaskStatus.REJECTED, TaskStatus.EXPIRED],
    ).exists()


def escalation_groups(*, workflow: str, step: str) -> list[str] | None:
    """The groups the stored escalation policy of `step` sends its task to, level by level;
    None when the step has no policy."""
    from approvals.models import EscalationPolicy

    policy = (
        EscalationPolicy.objects.select_related("escalate_to")
        .filter(workflow=workflow, step=step)
        .first()
    )
    if policy is None:
        return None
    further = policy.further_levels if isinstance(policy.further_levels, list) else []
    return [policy.escalate_to.name] + [
        str(level.get("escalate_to")) for level in further if isinstance(level, dict)
    ]


REVIEW_TASK = HumanStepHooks(
    on_enter=open_review_task,
    on_exit=close_review_task,
    confirm_verdict=confirm_verdict,
    work_permission=WORK_PERMISSION,
)
