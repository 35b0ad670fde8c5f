"""Workflow types and their steps, declared once so the engine, tooling and admin share them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workflows.models import Execution, WorkflowInstance


@dataclass(frozen=True)
class StepCall:
    """What an executor receives: a snapshot of the instance and the execution's key."""

    instance: WorkflowInstance
    execution: Execution

    @property
    def idempotency_key(self) -> str:
        return self.execution.idempotency_key


@dataclass(frozen=True)
class MachineStep:
    """A side effect run by a django-q2 worker; its result picks the next transition."""

    name: str
    state: str
    executor: Callable[[StepCall], dict[str, Any]]
    on_success: Callable[[dict[str, Any]], str]
    context_update: Callable[[dict[str, Any]], dict[str, Any]] = lambda result: {}
    max_attempts: int = 5
    kind: str = "machine"


@dataclass(frozen=True)
class HumanStep:
    """A durable wait for a person.

    `on_enter` lets the approvals layer open a task when the instance arrives in the step's
    state; `on_exit` lets it close that task when the instance leaves by any other path (a
    cancel). `approve_route` picks the approve transition from the instance when approval
    leads to different places (a second approval level); otherwise `approve_transition`.
    """

    name: str
    state: str
    approve_transition: str
    reject_transition: str
    sla: timedelta
    queue: str
    on_enter: Callable[[WorkflowInstance], None] | None = None
    on_exit: Callable[[WorkflowInstance, str], None] | None = None
    approve_route: Callable[[WorkflowInstance], str] | None = None
    kind: str = "human"

    def approve_transition_for(self, instance: WorkflowInstance) -> str:
        if self.approve_route is not None:
            return self.approve_route(instance)
        return self.approve_transition


@dataclass(frozen=True)
class WaitStep:
    """A wait for an outside signal, with a timer that fires `on_timeout` if none comes."""

    name: str
    state: str
    signal_transition: str
    timeout: Callable[[], timedelta]
    on_timeout: str
    kind: str = "wait"


Step = MachineStep | HumanStep | WaitStep


@dataclass(frozen=True)
class WorkflowDefinition:
    name: str
    model: type[WorkflowInstance]
    description: str
    steps: tuple[Step, ...]
    terminal_states: frozenset[str] = field(default_factory=frozenset)

    def step_for_state(self, state: str) -> Step | None:
        for step in self.steps:
            if step.state == state:
                return step
        return None

    def step_named(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"workflow {self.name!r} has no step {name!r}")


class UnknownWorkflow(LookupError):
    pass


_definitions: dict[str, WorkflowDefinition] = {}


def register(definition: WorkflowDefinition) -> WorkflowDefinition:
    existing = _definitions.get(definition.name)
    if existing is not None and existing.model is not definition.model:
        raise ValueError(f"workflow {definition.name!r} is already registered")
    _definitions[definition.name] = definition
    return definition


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
