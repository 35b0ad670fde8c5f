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
    # What the step uses, declared so the system map can say what decides and what executes
    # without reading the executor: rule set slugs, and outbound connectors as
    # (connector, setting naming its endpoint), e.g. ("http", "OPSCORE_CARRIER_URL").
    rule_sets: tuple[str, ...] = ()
    connectors: tuple[tuple[str, str], ...] = ()
    kind: str = "machine"


@dataclass(frozen=True)
class HumanStep:
    """A durable wait for a person.

    `on_enter` lets the approvals layer open a task when the instance arrives in the step's
    state; `on_exit` lets it close that task when the instance leaves by any other path (a
    cancel). `approve_route` picks the approve transition from the instance when approval
    leads to different places (a second approval level); otherwise `approve_transition`.
    Every transition the route can return is declared in `approve_routes`, so the engine
    knows all of the step's decisions without calling the route.

    `confirm_decision` is how the engine checks that a `Decision` handed to it is real: the
    approvals layer answers whether its task for this step decided exactly that transition at
    the instance's current version.
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
    approve_routes: tuple[str, ...] = ()
    confirm_decision: Callable[[WorkflowInstance, str, Decision], bool] | None = None
    kind: str = "human"

    def approve_transition_for(self, instance: WorkflowInstance) -> str:
        if self.approve_route is not None:
            name = self.approve_route(instance)
            if name not in self.decisions:
                raise ValueError(f"step {self.name!r} routed approval to undeclared {name!r}")
            return name
        return self.approve_transition

    @property
    def decisions(self) -> frozenset[str]:
        """Every transition a person's decision on this step can take."""
        return frozenset({self.approve_transition, self.reject_transition, *self.approve_routes})


@dataclass(frozen=True)
class Decision:
    """A person's decision on a human step, as the approvals service hands it to the engine.

    The engine takes a human step's approve/reject transitions only with one of these, and
    only after the step's `confirm_decision` has found the decided task it names; a caller
    that builds one without deciding a task through approvals gets nothing from it.
    """

    step: str
    task_id: int


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

    def signals(self) -> frozenset[str]:
        """The transitions outside callers (integrations, schedules) may fire: wait steps'
        signals, and nothing else."""
        return frozenset(
            step.signal_transition for step in self.steps if isinstance(step, WaitStep)
        )

    def decisions(self) -> frozenset[str]:
        """The transitions only a person's decision, through approvals, may take."""
        found: set[str] = set()
        for step in self.steps:
            if isinstance(step, HumanStep):
                found |= step.decisions
        return frozenset(found)

    def step_named(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"workflow {self.name!r} has no step {name!r}")


class UnknownWorkflow(LookupError):
    pass


_definitions: dict[str, WorkflowDefinition] = {}


def register(definition: WorkflowDefinition) -> WorkflowDefinition:
    """Register `definition`; refused when a declared decision or signal is not one of its
    model's transitions, or a transition is both (the engine's rule reads these sets)."""
    declared = definition.decisions() | definition.signals()
    missing = sorted(
        name
        for name in declared
        if not hasattr(getattr(definition.model, name, None), "_django_fsm")
    )
    if missing:
        raise ValueError(f"workflow {definition.name!r} declares unknown transitions {missing}")
    if definition.decisions() & definition.signals():
        raise ValueError(
            f"workflow {definition.name!r}: a transition cannot be both a person's decision "
            "and an outside signal"
        )
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
