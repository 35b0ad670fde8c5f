"""Evaluate a stored decision model with zen-engine, strictly: no silent defaults.

zen answers a missing input or a failing output expression with an empty result; here each
of those is a typed error instead, so a decision is either a real answer or a refusal.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import zen

from decisions.errors import EvaluationFailed, InvalidInput, MissingInput, NoRuleMatched
from decisions.tables import TABLE_NODE_ID, DecisionTable, engine_message, from_jdm

MODEL_KEY = "model"


@dataclass(frozen=True)
class CompiledModel:
    # An engine with a static loader evaluates several times faster than a ZenDecision
    # from create_decision (measured with bench/decisions_bench.py), so each model gets one.
    engine: Any
    table: DecisionTable


@dataclass(frozen=True)
class Evaluation:
    outputs: dict[str, Any] | list[dict[str, Any]]
    matched_rules: list[dict[str, Any]]
    duration_us: int


_COMPILED: dict[str, CompiledModel] = {}
_COMPILED_LIMIT = 256


def compiled(*, content: dict[str, Any], digest: str) -> CompiledModel:
    """The compiled model for `content`, keyed by its digest.

    A version's content never changes once it can be evaluated, so the digest names it
    for good; equal content compiles once however many versions share it.
    """
    model = _COMPILED.get(digest)
    if model is None:
        if len(_COMPILED) >= _COMPILED_LIMIT:
            _COMPILED.clear()
        model = CompiledModel(
            engine=zen.ZenEngine({"loader": {"type": "static", "content": {MODEL_KEY: content}}}),
            table=from_jdm(content),
        )
        _COMPILED[digest] = model
    return model


def evaluate_model(*, content: dict[str, Any], digest: str, inputs: dict[str, Any]) -> Evaluation:
    """Evaluate `inputs` against the model; raise a DecisionError kind instead of guessing."""
    model = compiled(content=content, digest=digest)
    table = model.table
    missing = [c.field for c in table.inputs if inputs.get(c.field) is None]
    if missing:
        raise MissingInput(f"missing input(s): {', '.join(missing)}")
    _check_types(table=table, inputs=inputs)
    started = time.perf_counter()
    try:
        response = model.engine.evaluate(MODEL_KEY, inputs, {"trace": True})
    except Exception as error:  # zen raises RuntimeError for every evaluation failure
        raise EvaluationFailed(f"the engine failed: {engine_message(error)}") from error
    duration_us = int((time.perf_counter() - started) * 1_000_000)
    trace = (response.get("trace") or {}).get(TABLE_NODE_ID) or {}
    trace_data = trace.get("traceData")
    hits = trace_data if isinstance(trace_data, list) else ([trace_data] if trace_data else [])
    matched = [
        {
            "id": hit["rule"].get("_id", ""),
            "description": hit["rule"].get("_description", ""),
            "index": hit.get("index"),
        }
        for hit in hits
        if hit and hit.get("rule")
    ]
    result = response.get("result")
    if table.hit_policy == "first" and not matched:
        _raise_for_unmatched(table=table, inputs=inputs)
    results = result if isinstance(result, list) else [result or {}]
    expected = [c.field for c in table.outputs]
    for produced in results:
        absent = [name for name in expected if produced.get(name) is None]
        if absent:
            raise EvaluationFailed(
                f"row {matched[0]['id'] if matched else '?'} did not produce output(s) "
                f"{', '.join(absent)}: an output expression failed at run time"
            )
    return Evaluation(outputs=result, matched_rules=matched, duration_us=duration_us)


_KIND_CHECKS = {
    "number": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
}


def _check_types(*, table: DecisionTable, inputs: dict[str, Any]) -> None:
    for column in table.inputs:
        check = _KIND_CHECKS.get(column.kind)
        if check is not None and not check(inputs[column.field]):
            raise InvalidInput(
                f"input {column.field!r} must be a {column.kind}, "
                f"got {json.dumps(inputs[column.field])}"
            )


def _raise_for_unmatched(*, table: DecisionTable, inputs: dict[str, Any]) -> None:
    """Tell "no row applies" from "a row applied but its output failed": zen reports both
    as an empty result without a trace. Runs only on this failure path."""
    for row in table.rows:
        if all(_passes(row.inputs.get(c.field, ""), c.field, inputs) for c in table.inputs):
            raise EvaluationFailed(
                f"row {row.id!r} matched but an output expression failed at run time "
                f"({', '.join(f'{k} = {v}' for k, v in row.outputs.items())})"
            )
    raise NoRuleMatched(f"no row matched the inputs {json.dumps(inputs, sort_keys=True)}")


def _passes(test: str, field_name: str, inputs: dict[str, Any]) -> bool:
    if not test.strip():
        return True
    try:
        return bool(zen.evaluate_unary_expression(test, {**inputs, "$": inputs.get(field_name)}))
    except Exception:  # a test that cannot run does not match, as in the engine
        return False
