"""A workflow's state graph (`workflows.diagram`) drawn as an inline SVG for admin, which must
render without internet access, so no JavaScript library is fetched or vendored: the system
map's (each state with its live count) and an instance page's (its current state and the path
it took highlighted)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from html import escape

from workflows.declaration import WorkflowDefinition
from workflows.diagram import Arrow, StateGraph, state_graph


def _layers(graph: StateGraph) -> list[list[str]]:
    """Longest-path depth from the initial state over forward edges (breadth-first discovery
    order decides which edges count as forward), so a state sits below everything that leads
    to it; states nothing reaches go on the last row."""
    outgoing: dict[str, list[str]] = defaultdict(list)
    for edge in graph.edges:
        outgoing[edge.source].append(edge.target)
    order = {graph.initial: 0}
    queue = [graph.initial]
    while queue:
        state = queue.pop(0)
        for target in outgoing[state]:
            if target not in order:
                order[target] = len(order)
                queue.append(target)
    depth = {graph.initial: 0}
    for state in sorted(order, key=order.get):
        for target in outgoing[state]:
            if order[target] > order[state]:
                depth[target] = max(depth.get(target, 0), depth[state] + 1)
    last = max(depth.values(), default=0)
    rows: dict[int, list[str]] = defaultdict(list)
    for state in graph.states:
        rows[depth.get(state, last + 1)].append(state)
    return [rows[index] for index in sorted(rows)]


NODE_WIDTH = 170
NODE_HEIGHT = 46
COLUMN_GAP = 60
ROW_GAP = 80
MARGIN = 24


CURRENT_FILL, CURRENT_STROKE = "#fff1c7", "#b7791f"
TAKEN_FILL, TAKEN_STROKE = "#e3f4e8", "#1f7a4d"


def state_diagram_svg(
    definition: WorkflowDefinition,
    *,
    counts: dict[str, int] | None = None,
    current: str | None = None,
    taken: Sequence[tuple[str, str, str]] = (),
) -> str:
    """The states in layers from the initial one downwards, each box with its live count when
    `counts` is given (else its label); transitions as labelled arrows. For one instance,
    `current` is its state and `taken` the (source, target, transition) steps it made, in
    order: those states and arrows are highlighted. Plain SVG, escaped, no script."""
    graph = state_graph(definition)
    taken_edges = {(source, target, name) for source, target, name in taken}
    visited = {graph.initial} | {state for step in taken for state in step[:2]}
    rows = _layers(graph)
    widest = max(len(row) for row in rows)
    width = MARGIN * 2 + widest * NODE_WIDTH + (widest - 1) * COLUMN_GAP
    height = MARGIN * 2 + len(rows) * NODE_HEIGHT + (len(rows) - 1) * ROW_GAP
    position: dict[str, tuple[float, float]] = {}
    for row_index, row in enumerate(rows):
        row_width = len(row) * NODE_WIDTH + (len(row) - 1) * COLUMN_GAP
        left = (width - row_width) / 2
        for column, state in enumerate(row):
            position[state] = (
                left + column * (NODE_WIDTH + COLUMN_GAP),
                MARGIN + row_index * (NODE_HEIGHT + ROW_GAP),
            )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="state-diagram" role="img" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'font-family="sans-serif" font-size="12">',
        f"<title>{escape(definition.name)} states</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#555"/></marker><marker id="arrow-taken" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path '
        f'd="M0,0 L10,5 L0,10 z" fill="{TAKEN_STROKE}"/></marker></defs>',
    ]
    pair_seen: dict[tuple[str, str], int] = defaultdict(int)
    for edge in graph.edges:
        parts.append(
            _edge_svg(
                edge,
                position,
                pair_seen,
                taken=(edge.source, edge.target, edge.name) in taken_edges,
            )
        )
    for state, (x, y) in position.items():
        terminal = state in graph.terminal
        fill = "#eef3f7" if not terminal else "#f3f3f3"
        stroke = "#417690" if state == graph.initial else "#888"
        width = 2 if terminal else 1.5
        classes = "state"
        if current is not None and state == current:
            fill, stroke, width, classes = CURRENT_FILL, CURRENT_STROKE, 3, "state current"
        elif current is not None and state in visited:
            fill, stroke, width, classes = TAKEN_FILL, TAKEN_STROKE, 2, "state visited"
        if counts is not None:
            count = counts.get(state, 0)
            second_line, data = f"{count:,} now", f' data-count="{count}"'
        else:
            label = graph.labels.get(state, state)
            second_line = "you are here" if classes == "state current" else label
            data = ""
        parts.append(
            f'<g class="{classes}" data-state="{escape(state)}"{data}>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="8" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"/>'
            f'<text x="{x + NODE_WIDTH / 2:.1f}" y="{y + 19:.1f}" text-anchor="middle" '
            f'font-weight="bold">{escape(state)}</text>'
            f'<text x="{x + NODE_WIDTH / 2:.1f}" y="{y + 36:.1f}" text-anchor="middle" '
            f'fill="#333">{escape(second_line)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _edge_svg(
    edge: Arrow,
    position: dict[str, tuple[float, float]],
    pair_seen: dict[tuple[str, str], int],
    *,
    taken: bool = False,
) -> str:
    (sx, sy), (tx, ty) = position[edge.source], position[edge.target]
    key = (edge.source, edge.target)
    nth = pair_seen[key]
    pair_seen[key] += 1
    if sy == ty:  # same row: leave from the side, arc below the row
        going_right = tx > sx
        x1 = sx + (NODE_WIDTH if going_right else 0)
        x2 = tx + (0 if going_right else NODE_WIDTH)
        y1 = y2 = sy + NODE_HEIGHT * 0.7
        bend = (30 + 14 * nth) * (1 if going_right else -1)
        cx, cy = (x1 + x2) / 2, y1 + abs(bend) + 10
    else:
        downward = ty > sy
        x1 = sx + NODE_WIDTH / 2 + (nth * 12)
        y1 = sy + (NODE_HEIGHT if downward else 0)
        x2 = tx + NODE_WIDTH / 2 + (nth * 12)
        y2 = ty + (0 if downward else NODE_HEIGHT)
        # Upward edges and long jumps bow sideways so they do not run through the boxes between.
        spread = abs(ty - sy) / (NODE_HEIGHT + ROW_GAP)
        bow = 0 if downward and spread <= 1 else (NODE_WIDTH * 0.55 + 18 * nth)
        cx = (x1 + x2) / 2 + (bow if downward else -bow)
        cy = (y1 + y2) / 2
    label_x = (x1 + 2 * cx + x2) / 4
    label_y = (y1 + 2 * cy + y2) / 4 + 12 * nth  # parallel edges: labels one under another
    stroke, width, marker = (TAKEN_STROKE, 2.5, "arrow-taken") if taken else ("#777", 1.2, "arrow")
    return (
        f'<g class="edge{" taken" if taken else ""}" data-transition="{escape(edge.name)}">'
        f'<path d="M{x1:.1f},{y1:.1f} Q{cx:.1f},{cy:.1f} {x2:.1f},{y2:.1f}" fill="none" '
        f'stroke="{stroke}" stroke-width="{width}" marker-end="url(#{marker})"/>'
        f'<text x="{label_x:.1f}" y="{label_y - 3:.1f}" text-anchor="middle" fill="#205067" '
        f'font-size="11" paint-order="stroke" stroke="#fff" stroke-width="3">'
        f"{escape(edge.name)}</text></g>"
    )
