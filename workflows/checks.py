"""System checks over every registered workflow declaration, so a broken name fails
`manage.py check` (and start-up) instead of becoming a dead letter at run time.

Each error names the workflow, the step or edge, and the field, with a stable id:

- E001 an edge's source or target is not a state of the model
- E002 an open state has no step
- E003 a state has two steps, or two steps share a name
- E004 an edge's name is already something else on the model
- E005 the model has a django-fsm transition the declaration does not declare
- E006 an edge is not named (not assigned in the declaration) or belongs to another one's step
- E007 a router: several outcomes without one, or it refers to an edge its step does not have
- E008 the initial or terminal states are not the model's, or a step waits in a terminal one
- E009 a human step has no queue, no hooks, or a decision edge without a permission
- E010 an edge's permission is not one of its model's permissions
- E011 a signal edge names no event type, or an event type starts or signals it twice
- E012 a connector names a setting that is not set

Tagged `database` (run by `manage.py check --database default`), what lives in tables:

- E020 a human step's queue group does not exist
- E021 a queue or escalation group lacks a permission the step needs
- E022 a human step has no escalation policy, or its policy escalates to a missing group
- E023 a rule set a step decides with does not exist
- E024 a declared start or signal has no trigger binding, or a stored binding of the workflow
  targets what the declaration does not declare

The versions of declarations are checked in `workflows.versions` (E030-E034).

The layers above the engine tell it what exists through `provide()` in their `ready()`, so the
engine never imports them: rule sets, escalation policies, trigger bindings.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core import checks
from django.db import connection
from django.db.utils import DatabaseError

from opscore.migrating import stored_rows_judged
from workflows import registry
from workflows.declaration import (
    Edge,
    FiredBy,
    HumanStep,
    MachineStep,
    Step,
    WaitStep,
    WorkflowDefinition,
)

_lookups: dict[str, Callable[..., Any]] = {}

# The lookups a layer above may provide, and what each answers.
RULE_SETS = "rule_sets"  # (slugs) -> the set of those that exist
ESCALATION_GROUPS = "escalation_groups"  # (workflow=, step=) -> group names, or None: no policy
TRIGGER_BINDINGS = "trigger_bindings"  # (workflow=) -> [(event type, "start"|"signal", edge)]


def provide(kind: str, lookup: Callable[..., Any]) -> None:
    """Called by the app that stores `kind` (see the constants above), from its `ready()`."""
    _lookups[kind] = lookup


def _error(definition: WorkflowDefinition, where: str, message: str, *, id: str, hint: str = ""):
    return checks.Error(
        f"workflow {definition.name!r} {where}: {message}",
        hint=hint or None,
        obj=definition.model,
        id=id,
    )


def _step_label(step: Step | None) -> str:
    return f"step {step.name!r}" if step is not None else "workflow"


def _edge_label(edge: Edge) -> str:
    owner = f"step {edge.step.name!r} " if edge.step is not None else ""
    return f"{owner}edge {edge.name or '(unnamed)'!r}"


@checks.register("workflows")
def check_declarations(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    found: list[checks.CheckMessage] = []
    for definition in registry.all_definitions():
        found += declaration_errors(definition)
    return found


def declaration_errors(definition: WorkflowDefinition) -> list[checks.CheckMessage]:
    return [
        *_state_errors(definition),
        *_step_errors(definition),
        *_edge_errors(definition),
        *_router_errors(definition),
        *_event_type_errors(definition),
    ]


def _state_errors(definition: WorkflowDefinition) -> list[checks.CheckMessage]:
    states = set(definition.states)
    found = []
    default = str(definition.model._meta.get_field("state").get_default())
    if str(definition.initial) not in states or str(definition.initial) != default:
        found.append(
            _error(
                definition,
                "initial",
                f"{str(definition.initial)!r} is not the model's initial state {default!r}",
                id="workflows.E008",
                hint="The initial state is the default of the model's state field.",
            )
        )
    for state in sorted(definition.terminal_states - states):
        found.append(
            _error(definition, "terminal", f"{state!r} is not a state", id="workflows.E008")
        )
    for step in definition.steps:
        if step.state in definition.terminal_states:
            found.append(
                _error(
                    definition,
                    f"{_step_label(step)} state",
                    f"waits in terminal state {step.state!r}",
                    id="workflows.E008",
                )
            )
    for state in definition.open_states:
        if definition.step_for_state(state) is None:
            found.append(
                _error(
                    definition,
                    f"state {state!r}",
                    "an open state has no step: an instance there would wait for nothing",
                    id="workflows.E002",
                    hint="Bind a step to it, or list it in `terminal`.",
                )
            )
    return found


def _step_errors(definition: WorkflowDefinition) -> list[checks.CheckMessage]:
    found = []
    by_state: dict[str, list[str]] = {}
    by_name: dict[str, int] = {}
    for step in definition.steps:
        by_state.setdefault(str(step.state), []).append(step.name)
        by_name[step.name] = by_name.get(step.name, 0) + 1
        if str(step.state) not in definition.states:
            found.append(
                _error(
                    definition,
                    f"{_step_label(step)} state",
                    f"{str(step.state)!r} is not a state",
                    id="workflows.E001",
                )
            )
        if isinstance(step, HumanStep):
            found += _human_step_errors(definition, step)
        if isinstance(step, MachineStep):
            for connector, setting in step.connectors:
                if not getattr(settings, setting, None):
                    found.append(
                        _error(
                            definition,
                            f"{_step_label(step)} connectors",
                            f"{connector} connector's setting {setting} is not set",
                            id="workflows.E012",
                        )
                    )
    for state, names in by_state.items():
        if len(names) > 1:
            found.append(
                _error(
                    definition,
                    f"state {state!r}",
                    f"has several steps ({', '.join(names)})",
                    id="workflows.E003",
                )
            )
    for name, count in by_name.items():
        if count > 1:
            found.append(
                _error(
                    definition,
                    f"step {name!r} name",
                    "is used by several steps",
                    id="workflows.E003",
                )
            )
    return found


def _human_step_errors(
    definition: WorkflowDefinition, step: HumanStep
) -> list[checks.CheckMessage]:
    found = []
    where = _step_label(step)
    if not step.queue:
        found.append(_error(definition, f"{where} queue", "names no group", id="workflows.E009"))
    if step.hooks is None:
        found.append(
            _error(
                definition,
                f"{where} hooks",
                "has none: no review task opens and no decision can be confirmed",
                id="workflows.E009",
                hint="Pass hooks=approvals.hooks.REVIEW_TASK.",
            )
        )
    if step.reject_edge is None or not step.approve_edges:
        found.append(
            _error(
                definition,
                where,
                "needs an approved(...) and a rejected(...) edge",
                id="workflows.E009",
            )
        )
    for edge in step.edges_fired_by(FiredBy.DECISION):
        if not edge.permission:
            found.append(
                _error(
                    definition,
                    f"{_edge_label(edge)} permission",
                    "a decision needs the permission its deciders hold",
                    id="workflows.E009",
                )
            )
    return found


def _model_permissions(model) -> set[str]:
    opts = model._meta
    codenames = {codename for codename, _ in opts.permissions}
    codenames |= {f"{action}_{opts.model_name}" for action in opts.default_permissions}
    return {f"{opts.app_label}.{codename}" for codename in codenames}


def _edge_errors(definition: WorkflowDefinition) -> list[checks.CheckMessage]:
    found = []
    model = definition.model
    states = set(definition.states)
    permissions = _model_permissions(model)
    steps = {id(step) for step in definition.steps}
    declared_names = {edge.name for edge in definition.edges}
    for step in definition.steps:
        for edge in step.edges:
            if edge not in definition.edges:
                found.append(
                    _error(
                        definition,
                        f"{_step_label(step)} edge to {str(edge.target)!r}",
                        "is declared on the step but not assigned to a name in the declaration",
                        id="workflows.E006",
                    )
                )
    for edge in definition.edges:
        where = _edge_label(edge)
        if edge.step is not None and id(edge.step) not in steps:
            found.append(
                _error(
                    definition,
                    f"{where} step",
                    f"belongs to step {edge.step.name!r} of another declaration",
                    id="workflows.E006",
                )
            )
        if str(edge.target) not in states:
            found.append(
                _error(
                    definition,
                    f"{where} to",
                    f"{str(edge.target)!r} is not a state",
                    id="workflows.E001",
                )
            )
        for source in edge.sources:
            if str(source) not in states:
                found.append(
                    _error(
                        definition,
                        f"{where} source",
                        f"{str(source)!r} is not a state",
                        id="workflows.E001",
                    )
                )
        if edge.permission and edge.permission not in permissions:
            found.append(
                _error(
                    definition,
                    f"{where} permission",
                    f"{edge.permission!r} is not a permission of {model._meta.label}",
                    id="workflows.E010",
                    hint=f"Declare it in {model.__name__}.Meta.permissions.",
                )
            )
        current = getattr(model, edge.name, None)
        if current is not None and getattr(current, "declared_edge", None) is not edge:
            found.append(
                _error(
                    definition,
                    f"{where} name",
                    f"{model.__name__}.{edge.name} already exists and is not this edge",
                    id="workflows.E004",
                )
            )
    state_field = model._meta.get_field("state")
    for transition in state_field.get_all_transitions(model):
        method = getattr(model, transition.name, None)
        if transition.name not in declared_names or getattr(method, "declared_edge", None) is None:
            found.append(
                _error(
                    definition,
                    f"model {model.__name__}",
                    f"has transition {transition.name!r} that the declaration does not declare",
                    id="workflows.E005",
                    hint="Declare the edge in the workflow; the registry generates transitions.",
                )
            )
    return _unique(found)


def _unique(found: list[checks.CheckMessage]) -> list[checks.CheckMessage]:
    seen, kept = set(), []
    for message in found:
        if (message.id, message.msg) not in seen:
            seen.add((message.id, message.msg))
            kept.append(message)
    return kept


def _attributes_of_self(function: Callable) -> list[str] | None:
    """The `self.<name>` a router reads, from its source (None when it has none to read)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return None
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.args.args:
        return None
    me = node.args.args[0].arg
    return [
        found.attr
        for found in ast.walk(node)
        if isinstance(found, ast.Attribute)
        and isinstance(found.value, ast.Name)
        and found.value.id == me
    ]


def _router_errors(definition: WorkflowDefinition) -> list[checks.CheckMessage]:
    found = []
    for step in definition.steps:
        if isinstance(step, MachineStep):
            router, allowed, field = step.router, step.outcomes, "routes"
            if router is None and len(allowed) > 1:
                found.append(
                    _error(
                        definition,
                        f"{_step_label(step)} routes",
                        f"has {len(allowed)} outcomes and no router to pick one",
                        id="workflows.E007",
                    )
                )
            if not allowed:
                found.append(
                    _error(
                        definition,
                        f"{_step_label(step)} outcome",
                        "has no outcome edge: success would lead nowhere",
                        id="workflows.E007",
                    )
                )
        elif isinstance(step, HumanStep):
            router, allowed, field = step.approve_router, step.approve_edges, "routes_approval"
            if router is None and len(allowed) > 1:
                found.append(
                    _error(
                        definition,
                        f"{_step_label(step)} routes_approval",
                        f"has {len(allowed)} approve edges and no router to pick one",
                        id="workflows.E007",
                    )
                )
        else:
            continue
        if router is None:
            continue
        for name in _attributes_of_self(router) or []:
            value = getattr(type(definition), name, None)
            if value is None:
                found.append(
                    _error(
                        definition,
                        f"{_step_label(step)} {field}",
                        f"{router.__name__} returns self.{name}, which is not declared",
                        id="workflows.E007",
                    )
                )
            elif isinstance(value, Edge) and not any(value is edge for edge in allowed):
                found.append(
                    _error(
                        definition,
                        f"{_step_label(step)} {field}",
                        f"{router.__name__} returns {name!r}, not one of the step's edges "
                        f"({', '.join(edge.name for edge in allowed) or 'none'})",
                        id="workflows.E007",
                    )
                )
    return found


def _event_type_errors(definition: WorkflowDefinition) -> list[checks.CheckMessage]:
    found = []
    seen: dict[str, str] = {name: "starts it" for name in definition.starts_on}
    if len(seen) != len(definition.starts_on):
        found.append(
            _error(definition, "starts_on", "names an event type twice", id="workflows.E011")
        )
    for step in definition.steps:
        for edge in step.edges_fired_by(FiredBy.SIGNAL):
            where = f"{_edge_label(edge)} by"
            if not isinstance(step, WaitStep) or not edge.event_type:
                found.append(
                    _error(
                        definition,
                        where,
                        "a signal names the event type that fires it",
                        id="workflows.E011",
                    )
                )
                continue
            if edge.event_type in seen:
                found.append(
                    _error(
                        definition,
                        where,
                        f"event type {edge.event_type!r} already {seen[edge.event_type]}",
                        id="workflows.E011",
                    )
                )
            seen[edge.event_type] = f"signals {edge.name!r}"
    return found


# --- what lives in tables -------------------------------------------------------------------


def _tables_exist(*tables: str) -> bool:
    try:
        existing = set(connection.introspection.table_names())
    except DatabaseError:
        return False
    return set(tables) <= existing


@checks.register("workflows", checks.Tags.database)
def check_declarations_against_database(app_configs=None, databases=None, **kwargs):
    """What the declarations name that operators keep in tables; skipped until migrated, and
    while `migrate` checks (a migration may be what grants or creates it)."""
    from django.contrib.auth.models import Group, Permission

    if not databases or not stored_rows_judged():
        return []
    if not _tables_exist(Group._meta.db_table, Permission._meta.db_table):
        return []
    found: list[checks.CheckMessage] = []
    try:
        for definition in registry.all_definitions():
            found += database_errors(definition)
    except DatabaseError:
        return found  # a table a lookup reads is not migrated yet
    return found


def _group_permissions(name: str) -> set[str] | None:
    from django.contrib.auth.models import Group

    group = Group.objects.filter(name=name).first()
    if group is None:
        return None
    return {
        f"{app_label}.{codename}"
        for app_label, codename in group.permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def database_errors(definition: WorkflowDefinition) -> list[checks.CheckMessage]:
    found: list[checks.CheckMessage] = []
    for step in definition.steps:
        if isinstance(step, HumanStep):
            found += _queue_errors(definition, step)
        if isinstance(step, MachineStep) and step.rule_sets and RULE_SETS in _lookups:
            existing = _lookups[RULE_SETS](step.rule_sets)
            for slug in step.rule_sets:
                if slug not in existing:
                    found.append(
                        _error(
                            definition,
                            f"{_step_label(step)} rule_sets",
                            f"rule set {slug!r} does not exist",
                            id="workflows.E023",
                        )
                    )
    found += _binding_errors(definition)
    return found


def decision_permissions(step: HumanStep) -> set[str]:
    """What a person needs to decide `step`: its decisions' permissions and the work permission
    of the hooks that open its tasks (what E021 asks of its queue and escalation groups)."""
    needed = {edge.permission for edge in step.edges_fired_by(FiredBy.DECISION) if edge.permission}
    if step.hooks is not None and step.hooks.work_permission:
        needed.add(step.hooks.work_permission)
    return needed


def _queue_errors(definition: WorkflowDefinition, step: HumanStep) -> list[checks.CheckMessage]:
    found = []
    needed = decision_permissions(step)
    groups = [("queue", step.queue)] if step.queue else []
    if ESCALATION_GROUPS in _lookups:
        escalation = _lookups[ESCALATION_GROUPS](workflow=definition.name, step=step.name)
        if escalation is None:
            found.append(
                _error(
                    definition,
                    f"{_step_label(step)} escalation",
                    "has no escalation policy: a task past its SLA would reach nobody",
                    id="workflows.E022",
                    hint="Add one in admin (Approvals > Escalation policies).",
                )
            )
        groups += [("escalation", name) for name in escalation or []]
    for field, name in groups:
        held = _group_permissions(name)
        if held is None:
            found.append(
                _error(
                    definition,
                    f"{_step_label(step)} {field}",
                    f"group {name!r} does not exist",
                    id="workflows.E020" if field == "queue" else "workflows.E022",
                )
            )
        elif needed - held:
            found.append(
                _error(
                    definition,
                    f"{_step_label(step)} {field}",
                    f"group {name!r} lacks {', '.join(sorted(needed - held))}: its members "
                    "could not decide the step",
                    id="workflows.E021",
                )
            )
    return found


def _binding_errors(definition: WorkflowDefinition) -> list[checks.CheckMessage]:
    if TRIGGER_BINDINGS not in _lookups:
        return []
    stored: Iterable[tuple[str, str, str]] = _lookups[TRIGGER_BINDINGS](workflow=definition.name)
    stored = set(stored)
    declared = {(name, "start", "") for name in definition.starts_on}
    declared |= {
        (event_type, "signal", edge) for event_type, edge in definition.signal_bindings().items()
    }
    found = []
    for event_type, action, edge in sorted(declared - stored):
        where = "starts_on" if action == "start" else f"edge {edge!r} by"
        found.append(
            _error(
                definition,
                where,
                f"event type {event_type!r} has no {action} binding to this workflow",
                id="workflows.E024",
                hint="Add the event type and its binding in admin (Integrations).",
            )
        )
    for event_type, action, edge in sorted(stored - declared):
        found.append(
            _error(
                definition,
                "trigger binding",
                f"event type {event_type!r} is bound to {action} {edge or 'it'}, which the "
                "declaration does not declare",
                id="workflows.E024",
                hint="Declare it (starts_on, or a wait step's signalled(by=...)) or delete it.",
            )
        )
    return found
