"""Reads for workflow screens and tooling."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet

from workflows.models import Execution, Timer, WorkflowInstance


def executions_for(*, instance: WorkflowInstance) -> QuerySet[Execution]:
    return Execution.objects.filter(
        instance_type=ContentType.objects.get_for_model(instance), instance_id=instance.pk
    ).order_by("created_at")


def timers_for(*, instance: WorkflowInstance) -> QuerySet[Timer]:
    return Timer.objects.filter(
        instance_type=ContentType.objects.get_for_model(instance), instance_id=instance.pk
    ).order_by("due_at")


def instances(
    *,
    workflow: str,
    state: str | None = None,
    correlation_key: str | None = None,
    created_after=None,
    created_before=None,
) -> QuerySet[WorkflowInstance]:
    """Instances of one registered workflow type, filtered; raises UnknownWorkflow."""
    from workflows import registry

    found = registry.get(workflow).model.objects.all()
    if state:
        found = found.filter(state=state)
    if correlation_key:
        found = found.filter(correlation_key=correlation_key)
    if created_after is not None:
        found = found.filter(created_at__gte=created_after)
    if created_before is not None:
        found = found.filter(created_at__lt=created_before)
    return found


def executions(
    *, workflow: str | None = None, status: str | None = None, step: str | None = None
) -> QuerySet[Execution]:
    """Executions across workflows; raises UnknownWorkflow for an unknown `workflow`."""
    from workflows import registry

    found = Execution.objects.select_related("instance_type")
    if workflow:
        model = registry.get(workflow).model
        found = found.filter(instance_type=ContentType.objects.get_for_model(model))
    if status:
        found = found.filter(status=status)
    if step:
        found = found.filter(step=step)
    return found
