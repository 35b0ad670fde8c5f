"""A workflow as one declaration that reads top to bottom like its diagram.

A workflow type subclasses `WorkflowDefinition` and lists, in order, each step bound to its
state and, under it, the edges that leave that state, each saying who fires it:

    class OrderWorkflow(WorkflowDefinition):
        name, version, model = "order", 1, Order
        initial = OrderState.RECEIVED
        terminal = (OrderState.COMPLETED, OrderState.CANCELLED, OrderState.FAILED)
        starts_on = ("order.received",)

        policy_check = MachineStep("policy.check", state=OrderState.RECEIVED, executor=...)
        clear_policy = policy_check.outcome(to=OrderState.DISPATCHING)
        flag_for_review = policy_check.outcome(to=OrderState.IN_REVIEW)

        @policy_check.routes
        def after_policy(self, result) -> Edge:
            return self.flag_for_review if result["review_required"] else self.clear_policy

An edge's name is the attribute it is assigned to, and it is the django-fsm transition the
registry generates on the model: source, target and permission are stated here only. Who may
fire an edge is part of it (`FiredBy`); the engine's `_authorize` reads it. Routers return
declared edge objects; anything else is an `UndeclaredEdge`. Nothing is validated while the
class body runs: `workflows.checks` reports every broken name, with workflow, step and field.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

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
class Verdict:
    """A reviewer's verdict on a human step, as the approvals service hands it to the engine.

    The engine takes a human step's approve/reject transitions only with one of these, and
    only after the step's `confirm_verdict` has found the decided task it names; a caller
    that builds one without deciding a task through approvals gets nothing from it.
    """

    step: str
    task_id: int


class UndeclaredEdge(ValueError):
    """A router returned something that is not one of its step's declared edges."""


class FiredBy(enum.StrEnum):
    """Who may fire an edge."""

    OUTCOME = "outcome"  # the engine, on a machine step's result (its router's choice)
    TIMER = "timer"  # the engine, when a wait step's timer runs out
    DECISION = "decision"  # a person deciding the human step's review task, with the permission
    SIGNAL = "signal"  # an integration, by the declared event type (or a permitted person)
    PERSON = "person"  # a person holding the permission (cancel, abandon)


EVERY_OPEN_STATE: tuple[str, ...] = ()


@dataclass(eq=False)
class Edge:
    """One transition: from its source state(s) to `target`, fired by `fired_by`.

    Compared by identity: a router must return this very object, not an edge of the same
    name from elsewhere. `sources` empty means every open (non-terminal) state but the target.
    """

    target: str
    fired_by: FiredBy
    sources: tuple[str, ...] = EVERY_OPEN_STATE
    step: Step | None = None
    permission: str = ""
    event_type: str = ""
    name: str = ""

    def __set_name__(self, owner: type, name: str) -> None:
        if not self.name:
            self.name = name

    def __repr__(self) -> str:
        return f"<Edge {self.name or '?'}: {'|'.join(self.sources) or '*'} -> {self.target}>"


@dataclass(eq=False)
class Step:
    name: str
    _: KW_ONLY
    state: str
    kind: ClassVar[str] = ""
    edges: list[Edge] = field(default_factory=list, init=False, repr=False)
    # Set when the declaration is instantiated; routers are called with it as `self`.
    workflow: WorkflowDefinition | None = field(default=None, init=False, repr=False)

    def _edge(self, *, to: str, fired_by: FiredBy, **extra: str) -> Edge:
        edge = Edge(target=to, fired_by=fired_by, sources=(self.state,), step=self, **extra)
        self.edges.append(edge)
        return edge

    def edges_fired_by(self, *kinds: FiredBy) -> tuple[Edge, ...]:
        return tuple(edge for edge in self.edges if edge.fired_by in kinds)

    def _route(self, router: Callable[..., Any], argument: Any, allowed: tuple[Edge, ...]) -> Edge:
        edge = router(self.workflow, argument)
        if not any(edge is declared for declared in allowed):
            workflow = self.workflow.name if self.workflow else "?"
            raise UndeclaredEdge(
                f"workflow {workflow!r} step {self.name!r}: {router.__name__} returned {edge!r}, "
                f"not one of its declared edges ({', '.join(e.name for e in allowed) or 'none'})"
            )
        return edge


@dataclass(eq=False, kw_only=True)
class MachineStep(Step):
    """A side effect run by a django-q2 worker; its result picks the outcome edge."""

    executor: Callable[[StepCall], dict[str, Any]]
    context_update: Callable[[dict[str, Any]], dict[str, Any]] = lambda result: {}
    max_attempts: int = 5
    # What the step uses, declared so checks and the system map can say what decides and what
    # executes without reading the executor: rule set slugs, and outbound connectors as
    # (connector, setting naming its endpoint), e.g. ("http", "OPSCORE_CARRIER_URL").
    rule_sets: tuple[str, ...] = ()
    connectors: tuple[tuple[str, str], ...] = ()
    router: Callable[[Any, dict[str, Any]], Edge] | None = field(default=None, repr=False)
    kind: ClassVar[str] = "machine"

    def outcome(self, *, to: str) -> Edge:
        """An edge the engine fires when this step succeeds (its router picks one)."""
        return self._edge(to=to, fired_by=FiredBy.OUTCOME)

    def abandoned(self, *, to: str, permission: str) -> Edge:
        """An edge a person fires to give up on this step (after its dead letter)."""
        return self._edge(to=to, fired_by=FiredBy.PERSON, permission=permission)

    def routes(self, router: Callable[[Any, dict[str, Any]], Edge]) -> Callable:
        """Decorator: `router(self, result)` returns one of this step's outcome edges."""
        self.router = router
        return router

    @property
    def outcomes(self) -> tuple[Edge, ...]:
        return self.edges_fired_by(FiredBy.OUTCOME)

    def outcome_for(self, result: dict[str, Any]) -> Edge:
        if self.router is None:
            if len(self.outcomes) != 1:
                raise UndeclaredEdge(f"step {self.name!r} has several outcomes and no router")
            return self.outcomes[0]
        return self._route(self.router, result, self.outcomes)


@dataclass(frozen=True)
class HumanStepHooks:
    """What the humans layer does around a human step, handed to the engine by declaration.

    `on_enter` opens the review task as an instance arrives; `on_exit` closes it when the
    instance leaves by another path (a cancel); `confirm_verdict` answers whether its task
    for this step decided exactly that transition at the instance's current version.
    `work_permission` is what a queue's members need to work its tasks (the checks require
    it of the step's queue and escalation groups).
    """

    on_enter: Callable[[WorkflowInstance], None]
    on_exit: Callable[[WorkflowInstance, str], None]
    confirm_verdict: Callable[[WorkflowInstance, str, Verdict], bool]
    work_permission: str = ""


@dataclass(eq=False, kw_only=True)
class HumanStep(Step):
    """A durable wait for a person: a review task in `queue` (a group) due within `sla`.

    Its approve edges (one, or several picked by `routes_approval`) and its reject edge are
    decisions: only a decided review task, confirmed by the hooks, fires them.
    """

    queue: str
    sla: timedelta
    hooks: HumanStepHooks | None = None
    approve_router: Callable[[Any, WorkflowInstance], Edge] | None = field(default=None, repr=False)
    reject_edge: Edge | None = field(default=None, init=False, repr=False)
    kind: ClassVar[str] = "human"

    def approved(self, *, to: str, permission: str) -> Edge:
        return self._edge(to=to, fired_by=FiredBy.DECISION, permission=permission)

    def rejected(self, *, to: str, permission: str) -> Edge:
        edge = self._edge(to=to, fired_by=FiredBy.DECISION, permission=permission)
        self.reject_edge = edge
        return edge

    def routes_approval(self, router: Callable[[Any, WorkflowInstance], Edge]) -> Callable:
        """Decorator: `router(self, instance)` picks the approve edge (a second level)."""
        self.approve_router = router
        return router

    @property
    def approve_edges(self) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges_fired_by(FiredBy.DECISION) if e is not self.reject_edge)

    @property
    def approve_transition(self) -> str:
        return self.approve_edges[0].name if self.approve_edges else ""

    @property
    def reject_transition(self) -> str:
        return self.reject_edge.name if self.reject_edge is not None else ""

    @property
    def verdicts(self) -> frozenset[str]:
        """Every transition a reviewer's verdict on this step can take."""
        return frozenset(edge.name for edge in self.edges_fired_by(FiredBy.DECISION))

    def approve_transition_for(self, instance: WorkflowInstance) -> str:
        if self.approve_router is None:
            return self.approve_transition
        return self._route(self.approve_router, instance, self.approve_edges).name

    @property
    def on_enter(self) -> Callable[[WorkflowInstance], None] | None:
        return self.hooks.on_enter if self.hooks else None

    @property
    def on_exit(self) -> Callable[[WorkflowInstance, str], None] | None:
        return self.hooks.on_exit if self.hooks else None

    @property
    def confirm_verdict(self) -> Callable[[WorkflowInstance, str, Verdict], bool] | None:
        return self.hooks.confirm_verdict if self.hooks else None


@dataclass(eq=False, kw_only=True)
class WaitStep(Step):
    """A wait for an outside signal, with a timer whose expiry fires the timed-out edge."""

    timeout: Callable[[], timedelta]
    kind: ClassVar[str] = "wait"

    def signalled(self, *, by: str, to: str) -> Edge:
        """The edge event type `by` fires (through its trigger binding) while waiting here."""
        return self._edge(to=to, fired_by=FiredBy.SIGNAL, event_type=by)

    def timed_out(self, *, to: str) -> Edge:
        return self._edge(to=to, fired_by=FiredBy.TIMER)

    @property
    def signal_transition(self) -> str:
        found = self.edges_fired_by(FiredBy.SIGNAL)
        return found[0].name if found else ""

    @property
    def on_timeout(self) -> str:
        found = self.edges_fired_by(FiredBy.TIMER)
        return found[0].name if found else ""


def cancelled(*, to: str, permission: str, sources: Sequence[str] = EVERY_OPEN_STATE) -> Edge:
    """A person with `permission` ends the instance from every open state (or `sources`)."""
    return Edge(target=to, fired_by=FiredBy.PERSON, sources=tuple(sources), permission=permission)


class WorkflowDefinition:
    """The base of every workflow declaration; an instance is what the registry holds.

    Class attributes a declaration sets: `name`, `version` (bump it when the shape changes,
    see `workflows.versions`), `model`, `initial`, `terminal`, `starts_on` (event types that
    start it), `moves` (how instances in states a new version removed move on), and its steps
    and edges in diagram order. `description` defaults to the class docstring.
    """

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    model: ClassVar[type[WorkflowInstance]]
    initial: ClassVar[str] = ""
    terminal: ClassVar[tuple[str, ...]] = ()
    starts_on: ClassVar[tuple[str, ...]] = ()
    moves: ClassVar[dict[str, str]] = {}
    description: ClassVar[str] = ""

    def __init__(self) -> None:
        steps: dict[str, Step] = {}
        edges: dict[str, Edge] = {}
        for klass in reversed(type(self).__mro__):
            for attribute, value in vars(klass).items():
                if isinstance(value, Step):
                    steps[attribute] = value
                elif isinstance(value, Edge):
                    edges[attribute] = value
        for step in steps.values():
            step.workflow = self
        self.steps: tuple[Step, ...] = tuple(steps.values())
        self.edges: tuple[Edge, ...] = tuple(edges.values())
        self.terminal_states: frozenset[str] = frozenset(str(s) for s in self.terminal)
        if not self.description:
            self.description = " ".join((type(self).__doc__ or "").split())

    def __repr__(self) -> str:
        return f"<workflow {self.name} v{self.version}>"

    @property
    def states(self) -> tuple[str, ...]:
        """The model's states, in the order its state field lists them."""
        state_field = self.model._meta.get_field("state")
        return tuple(str(value) for value, _label in state_field.choices or ())

    @property
    def open_states(self) -> tuple[str, ...]:
        return tuple(state for state in self.states if state not in self.terminal_states)

    def sources_of(self, edge: Edge) -> tuple[str, ...]:
        """The states `edge` leaves from: its own, or every open state but its target."""
        if edge.sources:
            return tuple(str(source) for source in edge.sources)
        return tuple(state for state in self.open_states if state != str(edge.target))

    def edge_named(self, name: str) -> Edge | None:
        return next((edge for edge in self.edges if edge.name == name), None)

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

    def signals(self) -> frozenset[str]:
        """The transitions outside callers (integrations, schedules) may fire: wait steps'
        signals, and nothing else."""
        return frozenset(edge.name for edge in self.edges if edge.fired_by == FiredBy.SIGNAL)

    def verdicts(self) -> frozenset[str]:
        """The transitions only a reviewer's verdict, through approvals, may take."""
        return frozenset(edge.name for edge in self.edges if edge.fired_by == FiredBy.DECISION)

    def signal_bindings(self) -> dict[str, str]:
        """Event type -> the signal edge it fires."""
        return {
            edge.event_type: edge.name
            for edge in self.edges
            if edge.fired_by == FiredBy.SIGNAL and edge.event_type
        }
