"""Reads for workflow screens and tooling."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet

from opscore.api_permissions import view_permission
from workflows.models import Execution, Timer, WorkflowInstance


@dataclass(frozen=True)
class Visibility:
    """The instances a reader may see, and so their timelines, executions and decisions.

    `workflows` maps each workflow the reader may see to None (all its instances) or to a
    query of instance ids (those an integration's own events started or signalled). A
    workflow it does not name is invisible.
    """

    workflows: Mapping[str, QuerySet | None]

    def sees(self, workflow: str) -> bool:
        return workflow in self.workflows

    def instance_filter(self, *, type_field: str = "instance_type", id_field: str = "instance_id"):
        """A Q over rows that point at an instance (content type + id): the visible ones."""
        from workflows import registry

        visible = Q(pk__in=[])
        for name, ids in self.workflows.items():
            model = registry.get(name).model
            one = Q(**{type_field: ContentType.objects.get_for_model(model)})
            if ids is not None:
                one &= Q(**{f"{id_field}__in": ids})
            visible |= one
        return visible


def visibility_for_user(*, user) -> Visibility:
    """A person sees the instances of every workflow whose model they have `view` permission on."""
    from workflows import registry

    return Visibility(
        workflows={
            definition.name: None
            for definition in registry.all_definitions()
            if user.has_perm(view_permission(definition.model))
        }
    )


def visibility_for_integration(*, reached: Callable[[str], QuerySet] | None) -> Visibility:
    """An integration sees, per workflow, the instance ids `reached(workflow)` yields; every
    instance when `reached` is None (a key scoped to read them all)."""
    from workflows import registry

    return Visibility(
        workflows={
            definition.name: None if reached is None else reached(definition.name)
            for definition in registry.all_definitions()
        }
    )


# The layer that decides appends how to find the automated decision that sent an instance on
# before a moment (decisions: its latest decision record), in its AppConfig.ready(); a task
# page shows it without importing that layer.
DECISION_FINDERS: list[Callable[..., Any]] = []


def decision_before(*, instance_type_id: int, instance_id: int, moment: datetime) -> Any:
    """The latest automated decision about the instance made at or before `moment`, or None."""
    for finder in DECISION_FINDERS:
        found = finder(instance_type_id=instance_type_id, instance_id=instance_id, moment=moment)
        if found is not None:
            return found
    return None


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
    visibility: Visibility | None = None,
    state: str | None = None,
    correlation_key: str | None = None,
    created_after=None,
    created_before=None,
) -> QuerySet[WorkflowInstance]:
    """Instances of one registered workflow type, filtered; raises UnknownWorkflow.

    With a `visibility`, only the instances it lets the reader see (none of an unseen workflow).
    """
    from workflows import registry

    found = registry.get(workflow).model.objects.all()
    if visibility is not None:
        if not visibility.sees(workflow):
            return found.none()
        ids = visibility.workflows[workflow]
        if ids is not None:
            found = found.filter(pk__in=ids)
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
    *,
    visibility: Visibility | None = None,
    workflow: str | None = None,
    status: str | None = None,
    step: str | None = None,
) -> QuerySet[Execution]:
    """Executions across workflows; raises UnknownWorkflow for an unknown `workflow`.

    With a `visibility`, only those of instances it lets the reader see.
    """
    from workflows import registry

    found = Execution.objects.select_related("instance_type")
    if visibility is not None:
        found = found.filter(visibility.instance_filter())
    if workflow:
        model = registry.get(workflow).model
        found = found.filter(instance_type=ContentType.objects.get_for_model(model))
    if status:
        found = found.filter(status=status)
    if step:
        found = found.filter(step=step)
    return found


def where_it_stands(*, instance: WorkflowInstance) -> str:
    """The instance's state and what happens next, in a reader's words: "now Dispatching:
    dispatch.execute is scheduled", "now Awaiting manager: waiting for manager.review in the
    managers queue", "now Completed (finished)"."""
    from workflows import registry
    from workflows.declaration import HumanStep, MachineStep, WaitStep

    definition = registry.for_model(type(instance))
    state = instance.get_state_display()
    if instance.state in definition.terminal_states:
        return f"now {state} (finished)"
    step = definition.step_for_state(instance.state)
    if isinstance(step, MachineStep):
        return f"now {state}: {step.name} is scheduled"
    if isinstance(step, HumanStep):
        return f"now {state}: waiting for {step.name} in the {step.queue} queue"
    if isinstance(step, WaitStep):
        return f"now {state}: waiting for {step.signal_transition}"
    return f"now {state}"


def path_taken(*, instance: WorkflowInstance) -> list[tuple[str, str, str]]:
    """The (source, target, transition) steps the instance made, oldest first, from its log."""
    from audit.selectors import instance_timeline

    return [
        (payload["source"], payload["target"], payload["transition"])
        for payload in instance_timeline(instance=instance)
        .filter(type="workflow.transition")
        .values_list("payload", flat=True)
        if {"source", "target", "transition"} <= set(payload)
    ]
