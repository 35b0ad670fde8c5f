"""A workflow's declaration as a graph of states and arrows, and as a Mermaid
`stateDiagram-v2` (for docs, markdown, the system map and `manage.py graph_workflow`);
`workflows.diagram_svg` draws the same graph for admin."""

from __future__ import annotations

from dataclasses import dataclass

from workflows.declaration import WorkflowDefinition


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
    """Every declared edge as an arrow from each of its source states; an edge from every open
    state (a cancel) becomes one arrow from each."""
    field = definition.model._meta.get_field("state")
    labels = {str(value): str(label) for value, label in (field.choices or [])}
    states: list[str] = list(labels)
    initial = str(definition.initial)
    if initial not in states:
        states.insert(0, initial)
    arrows: list[Arrow] = []
    for edge in definition.edges:
        target = str(edge.target)
        for source in definition.sources_of(edge):
            arrows.append(Arrow(source=source, target=target, name=edge.name))
            for state in (source, target):
                if state not in states:
                    states.append(state)
    arrows.sort(
        key=lambda arrow: (states.index(arrow.source), states.index(arrow.target), arrow.name)
    )
    return StateGraph(
        initial=initial,
        states=tuple(states),
        terminal=definition.terminal_states,
        edges=tuple(arrows),
        labels=labels,
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
