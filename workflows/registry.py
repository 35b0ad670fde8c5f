"""The registered workflow types: one `WorkflowDefinition` each, looked up by name or model.

Registering a declaration generates its model's django-fsm transitions from its edges (one
method per edge, empty: side effects are the engine's), so source, target and permission are
stated once, in the declaration, and django-fsm enforces them at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django_fsm import transition

from workflows.declaration import WorkflowDefinition

if TYPE_CHECKING:
    from workflows.models import WorkflowInstance


class UnknownWorkflow(LookupError):
    pass


_definitions: dict[str, WorkflowDefinition] = {}


def register(definition: WorkflowDefinition) -> WorkflowDefinition:
    """Register `definition` and generate its model's transitions. Names and states are
    checked by `manage.py check` (`workflows.checks`), not here, so a broken declaration is
    reported with every fault at once instead of failing the import."""
    existing = _definitions.get(definition.name)
    if existing is not None and existing.model is not definition.model:
        raise ValueError(f"workflow {definition.name!r} is already registered")
    _definitions[definition.name] = definition
    generate_transitions(definition)
    return definition


def unregister(name: str) -> None:
    """Forget a workflow and remove the transitions it generated (tests of broken ones)."""
    definition = _definitions.pop(name, None)
    if definition is None:
        return
    model = definition.model
    generated = model._meta.get_field("state").transitions.get(model, {})
    for edge in definition.edges:
        method = generated.get(edge.name)
        if method is not None and getattr(method, "declared_edge", None) is edge:
            del generated[edge.name]
            delattr(model, edge.name)


def generate_transitions(definition: WorkflowDefinition) -> None:
    """One django-fsm transition on the model per declared edge. An edge whose name the model
    already uses for something else is left out (the check reports it, workflows.E004)."""
    model = definition.model
    state_field = model._meta.get_field("state")
    generated = state_field.transitions.setdefault(model, {})
    for edge in definition.edges:
        if not edge.name:
            continue
        current = getattr(model, edge.name, None)
        if current is not None and getattr(current, "declared_edge", None) is None:
            continue

        def fire(self) -> None:
            pass

        fire.__name__ = edge.name
        fire.__qualname__ = f"{model.__name__}.{edge.name}"
        fire.__doc__ = f"Declared by the {definition.name} workflow ({edge.fired_by})."
        method = transition(
            field=state_field,
            source=[*definition.sources_of(edge)],
            target=str(edge.target),
            permission=edge.permission or None,
        )(fire)
        method.declared_edge = edge
        setattr(model, edge.name, method)
        generated[edge.name] = method


def get(name: str) -> WorkflowDefinition:
    try:
        return _definitions[name]
    except KeyError:
        raise UnknownWorkflow(f"no workflow named {name!r}") from None


def for_model(model: type[WorkflowInstance]) -> WorkflowDefinition:
    for definition in _definitions.values():
        if definition.model is model:
            return definition
    raise UnknownWorkflow(f"{model.__name__} is not a registered workflow")


def all_definitions() -> list[WorkflowDefinition]:
    return sorted(_definitions.values(), key=lambda definition: definition.name)
