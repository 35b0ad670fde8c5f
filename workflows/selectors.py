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
