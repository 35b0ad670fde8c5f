"""What a human step does as an instance enters or leaves it: open or close its review task.

Definitions name these as `HumanStep.on_enter` / `on_exit`; the engine calls them inside the
transition's transaction, so a task exists exactly while the instance waits in the step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
