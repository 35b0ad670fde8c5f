from collections import Counter
from datetime import UTC, datetime

import pytest
import time_machine

from decisions import selectors, services
from decisions.models import DecisionRecord
from decisions.tables import DecisionTable, Row, from_jdm

pytestmark = pytest.mark.django_db

AREAS = ["AB", "KT", "L", "M", "SW", "ZE", "EH"]


def current_rules(weight: float, area: str) -> str:
    if weight > 20:
        return "freightline"
    return "northpost" if area[0] < "M" else "southexpress"


def proposed_rules(weight: float, area: str) -> str:
    if weight > 15:
        return "freightline"
    return "northpost" if area[0] < "L" else "southexpress"


def synthetic_history(rule_set, count: int) -> list[dict]:
    version = selectors.published_version(rule_set=rule_set)
    inputs = [
        {"weight_kg": (i * 7) % 41 + 0.5, "postcode_area": AREAS[i % len(AREAS)]}
        for i in range(count)
    ]
    DecisionRecord.objects.bulk_create(
        [
            DecisionRecord(
                rule_set=rule_set,
                version=version,
                inputs=i,
                outputs={"carrier": current_rules(i["weight_kg"], i["postcode_area"])},
                matched_rules=[],
                duration_us=10,
                step="dispatch.execute",
            )
            for i in inputs
        ],
        batch_size=2000,
    )
    return inputs


def proposed_draft(rule_set, author):
    draft = services.create_draft(rule_set=rule_set, actor=author)
    table = from_jdm(draft.content)
    rows = (
        Row("freight", "Heavy parcels", {"weight_kg": "> 15"}, {"carrier": '"freightline"'}),
        Row("north", "Areas A to K", {"postcode_area": 'matches($, "^[A-K]")'},
            {"carrier": '"northpost"'}),
        table.rows[-1],
    )  # fmt: skip
    return services.save_draft_table(
        version=draft,
        table=DecisionTable(table.hit_policy, table.inputs, table.outputs, rows),
        actor=author,
    )


def test_backtest_counts_changed_outcomes_over_10000_decisions(carrier_rules, author):
    inputs = synthetic_history(carrier_rules, 10_000)
    expected = Counter(
        (current_rules(i["weight_kg"], i["postcode_area"]),
         proposed_rules(i["weight_kg"], i["postcode_area"]))
        for i in inputs
    )  # fmt: skip
    expected_changes = {pair: n for pair, n in expected.items() if pair[0] != pair[1]}

    backtest = services.run_backtest(version=proposed_draft(carrier_rules, author), actor=author,
                                     last=10_000)  # fmt: skip

    assert backtest.decisions_evaluated == 10_000
    assert backtest.errors == 0
    assert backtest.changed == sum(expected_changes.values())
    assert {(b["from"], b["to"]): b["count"] for b in backtest.breakdown} == expected_changes
    assert len(backtest.samples) == 20
    sample = DecisionRecord.objects.get(pk=backtest.samples[0]["decision"])
    assert backtest.samples[0]["from"] == sample.outputs["carrier"]
    assert backtest.samples[0]["to"] != backtest.samples[0]["from"]


def test_backtest_of_the_published_rules_changes_nothing(carrier_rules, author):
    synthetic_history(carrier_rules, 500)
    published = selectors.published_version(rule_set=carrier_rules)
    backtest = services.run_backtest(version=published, actor=author, last=None)
    assert (backtest.decisions_evaluated, backtest.changed, backtest.breakdown) == (500, 0, [])


def test_backtest_over_a_date_range_uses_only_decisions_in_it(carrier_rules, author):
    with time_machine.travel(datetime(2026, 3, 1, 12, tzinfo=UTC), tick=False):
        synthetic_history(carrier_rules, 70)
    with time_machine.travel(datetime(2026, 3, 5, 12, tzinfo=UTC), tick=False):
        synthetic_history(carrier_rules, 140)
    backtest = services.run_backtest(
        version=proposed_draft(carrier_rules, author),
        actor=author,
        since=datetime(2026, 3, 4, tzinfo=UTC),
        until=datetime(2026, 3, 6, tzinfo=UTC),
    )
    assert backtest.decisions_evaluated == 140


def test_submitting_for_review_stores_a_backtest_for_the_publisher(carrier_rules, author):
    synthetic_history(carrier_rules, 300)
    draft = services.submit_for_review(version=proposed_draft(carrier_rules, author), actor=author)
    backtest = selectors.latest_backtest(version=draft)
    assert backtest.decisions_evaluated == 300
    assert backtest.changed > 0


def test_backtest_command_reports_and_stores_the_result(carrier_rules, author):
    from io import StringIO

    from django.core.management import call_command

    synthetic_history(carrier_rules, 200)
    draft = proposed_draft(carrier_rules, author)
    out = StringIO()
    call_command(
        "backtest_ruleset", "order-carrier", str(draft.number), "--last", "150", stdout=out
    )
    backtest = selectors.latest_backtest(version=draft)
    assert backtest.decisions_evaluated == 150
    assert f"{backtest.changed} of 150 outcomes change" in out.getvalue()
