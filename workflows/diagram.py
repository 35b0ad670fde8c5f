"""A workflow's states and transitions as a graph, and as a Mermaid `stateDiagram-v2` (for
docs, markdown and `manage.py graph_workflow`); observability draws the same graph as SVG."""

from __future__ import annotations

from dataclasses import dataclass

from workflows.declaration import WorkflowDefinition

ANY_STATE = "*"


@dataclass(frozen=True)
class Arrow:
    source: str
    target: str
    name: str


@dataclass(frozen=True)
class StateGraph:
    initial: str
    states: tuple[str, ...]
    terminal: frozenset[str]
    edges: tuple[Arrow, ...]
    labels: dict[str, str]


def state_graph(definition: WorkflowDefinition) -> StateGraph:
    """Every declared transition as an edge; a transition from any state ("*") becomes one
    edge from each non-terminal state, and "+" (any but the target) likewise."""
    field = definition.model._meta.get_field("state")
    labels = {str(value): str(label) for value, label in (field.choices or [])}
    states: list[str] = list(labels)
    initial = str(field.get_default())
    if initial not in states:
        states.insert(0, initial)
    terminal = frozenset(str(state) for state in definition.terminal_states)
    edges: list[Arrow] = []
    for transition in field.get_all_transitions(definition.model):
        target = str(transition.target)
        sources = (
            [state for state in states if state not in terminal and state != target]
            if transition.source in (ANY_STATE, "+")
            else [str(transition.source)]
        )
        for source in sources:
            edges.append(Arrow(source=source, target=target, name=transition.name))
            for state in (source, target):
                if state not in states:
                    states.append(state)
    edges.sort(key=lambda edge: (states.index(edge.source), states.index(edge.target), edge.name))
    return StateGraph(
        initial=initial, states=tuple(states), terminal=terminal, edges=tuple(edges), labels=labels
    )


def mermaid_state_diagram(definition: WorkflowDefinition) -> str:
    """A Mermaid `stateDiagram-v2` of the workflow: the initial state, every transition labelled
    with its name, and the terminal states ending in [*]."""
    graph = state_graph(definition)
    lines = ["stateDiagram-v2", f"    [*] --> {graph.initial}"]
    for state in graph.states:
        label = graph.labels.get(state)
        if label and label != state:
            lines.append(f"    {state} : {label}")
    lines += [f"    {edge.source} --> {edge.target} : {edge.name}" for edge in graph.edges]
    lines += [f"    {state} --> [*]" for state in graph.states if state in graph.terminal]
    return "\n".join(lines) + "\n"
