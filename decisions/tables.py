"""Decision tables as people edit them, and their GoRules JDM form as the engine runs them.

A version stores the JDM graph (input node -> one decision table -> output node), so what
is stored is exactly what `zen-engine` evaluates. `DecisionTable` is the editable view of
that graph: columns, rows, hit policy. `check_table` refuses anything the engine would
silently mis-evaluate (a malformed cell matches nothing in zen, it does not raise).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import zen

from decisions.errors import MalformedRuleSet

HIT_POLICIES = {
    "first": "First matching row wins",
    "collect": "Every matching row contributes (outputs are a list)",
}
INPUT_KINDS = {
    "any": "Any value",
    "number": "Number",
    "string": "Text",
    "boolean": "True/false",
}
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TABLE_NODE_ID = "table"


@dataclass(frozen=True)
class Column:
    field: str
    label: str = ""
    kind: str = "any"  # inputs only: what a value must be, checked before evaluation

    @property
    def title(self) -> str:
        return self.label or self.field


@dataclass(frozen=True)
class Row:
    """One rule: an input test per input field ("" = any), an output expression per output."""

    id: str
    description: str
    inputs: dict[str, str]
    outputs: dict[str, str]


@dataclass(frozen=True)
class DecisionTable:
    hit_policy: str = "first"
    inputs: tuple[Column, ...] = ()
    outputs: tuple[Column, ...] = ()
    rows: tuple[Row, ...] = field(default_factory=tuple)

    def row_by_id(self, rule_id: str) -> Row | None:
        return next((row for row in self.rows if row.id == rule_id), None)


def engine_message(error: Exception) -> str:
    """zen errors carry a JSON envelope and a Rust backtrace; keep the part a person can act on."""
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
    try:
        envelope = json.loads(first_line)
    except ValueError:
        return first_line
    if isinstance(envelope, dict):
        return str(envelope.get("source") or envelope.get("message") or first_line)
    return first_line


def check_table(table: DecisionTable) -> None:
    """Raise MalformedRuleSet naming the first problem; compiles every cell and the graph."""
    if table.hit_policy not in HIT_POLICIES:
        raise MalformedRuleSet(f"unknown hit policy {table.hit_policy!r}")
    if not table.outputs:
        raise MalformedRuleSet("a decision table needs at least one output column")
    if not table.rows:
        raise MalformedRuleSet("a decision table needs at least one row")
    for kind, columns in (("input", table.inputs), ("output", table.outputs)):
        seen: set[str] = set()
        for column in columns:
            if not FIELD_NAME.match(column.field):
                raise MalformedRuleSet(
                    f"{kind} column {column.field!r} is not a valid field name "
                    "(letters, digits and _, not starting with a digit)"
                )
            if column.kind not in INPUT_KINDS:
                raise MalformedRuleSet(
                    f"{kind} column {column.field!r}: unknown type {column.kind!r}"
                )
            if column.field in seen:
                raise MalformedRuleSet(f"{kind} column {column.field!r} appears twice")
            seen.add(column.field)
    row_ids: set[str] = set()
    for number, row in enumerate(table.rows, start=1):
        if not row.id or row.id in row_ids:
            raise MalformedRuleSet(f"row {number} needs a unique id")
        row_ids.add(row.id)
        for column in table.inputs:
            test = row.inputs.get(column.field, "").strip()
            if test:
                _compile(zen.compile_unary_expression, test, number, column.field)
        for column in table.outputs:
            expression = row.outputs.get(column.field, "").strip()
            if not expression:
                raise MalformedRuleSet(f"row {number}: output {column.field!r} is empty")
            _compile(zen.compile_expression, expression, number, column.field)
    try:
        zen.ZenEngine().create_decision(json.dumps(to_jdm(table))).validate()
    except Exception as error:  # zen raises RuntimeError for every kind of refusal
        raise MalformedRuleSet(f"the engine refused the table: {engine_message(error)}") from error


def _compile(compiler: Any, expression: str, row_number: int, field_name: str) -> None:
    try:
        compiler(expression)
    except Exception as error:  # zen raises RuntimeError with a JSON envelope
        raise MalformedRuleSet(
            f"row {row_number}, column {field_name!r}: {expression!r} is not a valid "
            f"expression ({engine_message(error)})"
        ) from error


def _input_id(index: int) -> str:
    return f"in{index}"


def _output_id(index: int) -> str:
    return f"out{index}"


def to_jdm(table: DecisionTable) -> dict[str, Any]:
    """The JDM graph for `table`; deterministic, so equal tables give byte-equal content."""
    rules = []
    for row in table.rows:
        rule: dict[str, str] = {"_id": row.id, "_description": row.description}
        for index, column in enumerate(table.inputs):
            rule[_input_id(index)] = row.inputs.get(column.field, "").strip()
        for index, column in enumerate(table.outputs):
            rule[_output_id(index)] = row.outputs.get(column.field, "").strip()
        rules.append(rule)
    position = {"x": 0, "y": 0}
    return {
        "nodes": [
            {"id": "request", "type": "inputNode", "name": "Request", "position": position},
            {
                "id": TABLE_NODE_ID,
                "type": "decisionTableNode",
                "name": "Decision table",
                "position": position,
                "content": {
                    "hitPolicy": table.hit_policy,
                    "inputs": [
                        # dataType is opscore's own key (zen ignores it): the input's type.
                        {"id": _input_id(i), "name": c.title, "field": c.field, "dataType": c.kind}
                        for i, c in enumerate(table.inputs)
                    ],
                    "outputs": [
                        {"id": _output_id(i), "name": c.title, "field": c.field}
                        for i, c in enumerate(table.outputs)
                    ],
                    "rules": rules,
                },
            },
            {"id": "response", "type": "outputNode", "name": "Response", "position": position},
        ],
        "edges": [
            {"id": "e1", "sourceId": "request", "targetId": TABLE_NODE_ID, "type": "edge"},
            {"id": "e2", "sourceId": TABLE_NODE_ID, "targetId": "response", "type": "edge"},
        ],
    }


def from_jdm(content: dict[str, Any]) -> DecisionTable:
    """The editable table inside a JDM graph of one decision table node."""
    nodes = [n for n in content.get("nodes", []) if n.get("type") == "decisionTableNode"]
    if len(nodes) != 1:
        raise MalformedRuleSet("a rule set version must hold exactly one decision table")
    body = nodes[0].get("content") or {}
    input_columns = [
        (c["id"], Column(c["field"], c.get("name", ""), c.get("dataType", "any")))
        for c in body["inputs"]
    ]
    output_columns = [(c["id"], Column(c["field"], c.get("name", ""))) for c in body["outputs"]]
    rows = tuple(
        Row(
            id=str(rule.get("_id", "")),
            description=str(rule.get("_description", "")),
            inputs={column.field: str(rule.get(cid, "")) for cid, column in input_columns},
            outputs={column.field: str(rule.get(cid, "")) for cid, column in output_columns},
        )
        for rule in body.get("rules", [])
    )
    return DecisionTable(
        hit_policy=body.get("hitPolicy", "first"),
        inputs=tuple(column for _, column in input_columns),
        outputs=tuple(column for _, column in output_columns),
        rows=rows,
    )


def content_digest(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class TableDiff:
    """A readable difference between two tables: what a reviewer needs to see, row by row."""

    hit_policy: tuple[str, str] | None
    inputs_added: list[str]
    inputs_removed: list[str]
    outputs_added: list[str]
    outputs_removed: list[str]
    rows_added: list[Row]
    rows_removed: list[Row]
    rows_changed: list[tuple[Row, Row, list[str]]]
    order_changed: bool

    @property
    def is_empty(self) -> bool:
        return not (
            self.hit_policy
            or self.inputs_added
            or self.inputs_removed
            or self.outputs_added
            or self.outputs_removed
            or self.rows_added
            or self.rows_removed
            or self.rows_changed
            or self.order_changed
        )


def diff_tables(old: DecisionTable, new: DecisionTable) -> TableDiff:
    old_inputs = [c.field for c in old.inputs]
    new_inputs = [c.field for c in new.inputs]
    old_outputs = [c.field for c in old.outputs]
    new_outputs = [c.field for c in new.outputs]
    old_rows = {row.id: row for row in old.rows}
    new_rows = {row.id: row for row in new.rows}
    changed = []
    for row in new.rows:
        before = old_rows.get(row.id)
        if before is None:
            continue
        cells = []
        for name in dict.fromkeys(old_inputs + new_inputs):
            a, b = before.inputs.get(name, ""), row.inputs.get(name, "")
            if a != b:
                cells.append(f"{name}: {a or '-'} → {b or '-'}")
        for name in dict.fromkeys(old_outputs + new_outputs):
            a, b = before.outputs.get(name, ""), row.outputs.get(name, "")
            if a != b:
                cells.append(f"{name}: {a or '-'} → {b or '-'}")
        if before.description != row.description:
            cells.append(f"description: {before.description!r} → {row.description!r}")
        if cells:
            changed.append((before, row, cells))
    common_old = [rid for rid in old_rows if rid in new_rows]
    common_new = [rid for rid in new_rows if rid in old_rows]
    return TableDiff(
        hit_policy=(old.hit_policy, new.hit_policy) if old.hit_policy != new.hit_policy else None,
        inputs_added=[f for f in new_inputs if f not in old_inputs],
        inputs_removed=[f for f in old_inputs if f not in new_inputs],
        outputs_added=[f for f in new_outputs if f not in old_outputs],
        outputs_removed=[f for f in old_outputs if f not in new_outputs],
        rows_added=[row for row in new.rows if row.id not in old_rows],
        rows_removed=[row for row in old.rows if row.id not in new_rows],
        rows_changed=changed,
        order_changed=common_old != common_new,
    )
