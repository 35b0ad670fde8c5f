"""Decision-layer throughput: carrier-table evaluations per second, and a 10,000-decision
backtest, each against a same-run ceiling (plain Python doing the same work).

    .venv/bin/python bench/decisions_bench.py [--evaluations 50000] [--decisions 10000]

Runs on a throwaway SQLite database in a temp dir unless DATABASE_URL is set; then it runs
on that database and replaces the carrier rule set's decision records there, so point it
only at a scratch database.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opscore.settings")
if "DATABASE_URL" not in os.environ:
    _tmp = tempfile.mkdtemp(prefix="opscore-bench-")
    os.environ["DATABASE_URL"] = f"sqlite:///{_tmp}/bench.sqlite3"
os.environ.setdefault("OPSCORE_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

AREAS = ["AB", "KT", "L", "M", "SW", "ZE", "EH"]


def plain_carrier(weight_kg: float, postcode_area: str) -> str:
    """The ceiling: the same lookup as the carrier table, written by hand."""
    if weight_kg > 20:
        return "freightline"
    return "northpost" if "A" <= postcode_area[:1] <= "L" else "southexpress"


def inputs_for(count: int) -> list[dict]:
    return [
        {"weight_kg": (i * 7) % 41 + 0.5, "postcode_area": AREAS[i % len(AREAS)]}
        for i in range(count)
    ]


def bench_evaluations(count: int) -> None:
    from decisions import selectors
    from decisions.evaluation import MODEL_KEY, compiled, evaluate_model
    from processes.orders.rules import ORDER_CARRIER

    version = selectors.published_version(rule_set=selectors.ruleset_by_slug(slug=ORDER_CARRIER))
    samples = inputs_for(count)
    content, digest = version.content, version.content_digest
    evaluate_model(content=content, digest=digest, inputs=samples[0])  # compile once

    started = time.perf_counter()
    for inputs in samples:
        evaluate_model(content=content, digest=digest, inputs=inputs)
    engine_seconds = time.perf_counter() - started

    engine = compiled(content=content, digest=digest).engine
    started = time.perf_counter()
    for inputs in samples:
        engine.evaluate(MODEL_KEY, inputs, {"trace": True})
    raw_seconds = time.perf_counter() - started

    started = time.perf_counter()
    for inputs in samples:
        plain_carrier(inputs["weight_kg"], inputs["postcode_area"])
    plain_seconds = time.perf_counter() - started

    engine_rate, plain_rate = count / engine_seconds, count / plain_seconds
    raw_rate = count / raw_seconds
    print(f"carrier table, {count} evaluations (zen-engine, with trace, strict checks)")
    print(f"  opscore evaluate_model : {engine_rate:12,.0f} evaluations/s")
    print(f"  raw zen-engine call    : {raw_rate:12,.0f} evaluations/s (no checks, no parsing)")
    print(f"  plain Python ceiling   : {plain_rate:12,.0f} evaluations/s")
    print(
        f"  ratio                  : {engine_rate / plain_rate:.4f} of the plain ceiling, "
        f"{engine_rate / raw_rate:.2f} of raw zen-engine"
    )


def bench_backtest(count: int) -> None:
    from decisions import selectors, services
    from decisions.models import DecisionRecord
    from decisions.tables import DecisionTable, Row, from_jdm
    from opscore.actors import SYSTEM
    from processes.orders.rules import ORDER_CARRIER

    rule_set = selectors.ruleset_by_slug(slug=ORDER_CARRIER)
    version = selectors.published_version(rule_set=rule_set)
    DecisionRecord.objects.filter(rule_set=rule_set).delete()
    DecisionRecord.objects.bulk_create(
        [
            DecisionRecord(
                rule_set=rule_set,
                version=version,
                inputs=i,
                outputs={"carrier": plain_carrier(i["weight_kg"], i["postcode_area"])},
                duration_us=0,
            )
            for i in inputs_for(count)
        ],
        batch_size=2000,
    )
    draft = services.create_draft(rule_set=rule_set, actor=SYSTEM)
    table = from_jdm(draft.content)
    freight = Row("freight", "Heavy", {"weight_kg": "> 15"}, {"carrier": '"freightline"'})
    draft = services.save_draft_table(
        version=draft,
        table=DecisionTable(
            table.hit_policy, table.inputs, table.outputs, (freight, *table.rows[1:])
        ),
        actor=SYSTEM,
    )

    started = time.perf_counter()
    backtest = services.run_backtest(version=draft, actor=SYSTEM, last=count)
    backtest_seconds = time.perf_counter() - started

    # Ceiling: read the same rows and replay them through the hand-written function.
    started = time.perf_counter()
    changed = 0
    rows = DecisionRecord.objects.filter(rule_set=rule_set).order_by("-created_at", "-id")
    for inputs, outputs in rows[:count].values_list("inputs", "outputs").iterator(chunk_size=2000):
        new = (
            "freightline"
            if inputs["weight_kg"] > 15
            else plain_carrier(inputs["weight_kg"], inputs["postcode_area"])
        )
        changed += new != outputs["carrier"]
    plain_seconds = time.perf_counter() - started

    assert backtest.changed == changed, (backtest.changed, changed)
    print(f"backtest of {backtest.decisions_evaluated} decisions ({backtest.changed} change)")
    print(f"  opscore run_backtest   : {backtest_seconds:8.3f} s")
    print(f"  plain Python ceiling   : {plain_seconds:8.3f} s (same rows, hand-written rules)")
    print(f"  ratio                  : {plain_seconds / backtest_seconds:.3f} of the ceiling")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=50_000)
    parser.add_argument("--decisions", type=int, default=10_000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    from django.db import connection

    print(f"database: {connection.vendor}")
    bench_evaluations(args.evaluations)
    bench_backtest(args.decisions)


if __name__ == "__main__":
    main()
