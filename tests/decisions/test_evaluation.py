import pytest

from decisions import services
from decisions.errors import (
    EvaluationFailed,
    InvalidInput,
    MalformedRuleSet,
    MissingInput,
    NoRuleMatched,
)
from decisions.tables import Column, DecisionTable, Row, check_table, from_jdm
from tests.factories import start_order

pytestmark = pytest.mark.django_db


def test_decision_is_recorded_with_version_inputs_outputs_and_matched_rule(carrier_rules):
    order = start_order()
    record = services.decide(
        rule_set="order-carrier",
        inputs={"weight_kg": 25, "postcode_area": "SW"},
        instance=order,
        step="dispatch.execute",
    )
    record.refresh_from_db()
    assert record.version.number == 1
    assert record.version.rule_set == carrier_rules
    assert record.inputs == {"weight_kg": 25, "postcode_area": "SW"}
    assert record.outputs == {"carrier": "freightline"}
    assert record.matched_rules[0]["id"] == "freight"
    assert record.primary_rule_id == "freight"
    assert record.instance == order
    assert record.step == "dispatch.execute"
    assert record.duration_us >= 0


@pytest.mark.parametrize(
    ("inputs", "carrier", "rule"),
    [
        ({"weight_kg": 21, "postcode_area": "AB"}, "freightline", "freight"),
        ({"weight_kg": 20, "postcode_area": "AB"}, "northpost", "north"),
        ({"weight_kg": 1, "postcode_area": "L"}, "northpost", "north"),
        ({"weight_kg": 1, "postcode_area": "M"}, "southexpress", "south"),
        ({"weight_kg": 1, "postcode_area": "SW"}, "southexpress", "south"),
    ],
)
def test_carrier_table_keeps_the_original_thresholds(carrier_rules, inputs, carrier, rule):
    _version, evaluation = services.evaluate_ruleset(slug="order-carrier", inputs=inputs)
    assert evaluation.outputs == {"carrier": carrier}
    assert evaluation.matched_rules[0]["id"] == rule


def test_reevaluating_a_record_with_its_stored_version_gives_the_same_answer(
    carrier_rules, author, publisher
):
    inputs = [{"weight_kg": w, "postcode_area": a} for w in (1, 20, 20.5, 40) for a in "AMZ"]
    records = [services.decide(rule_set="order-carrier", inputs=i) for i in inputs]
    # Publishing a different version later must not change how old records re-evaluate.
    draft = services.create_draft(rule_set=carrier_rules, actor=author)
    table = from_jdm(draft.content)
    services.save_draft_table(
        version=draft,
        table=DecisionTable(table.hit_policy, table.inputs, table.outputs, table.rows[::-1]),
        actor=author,
    )
    services.submit_for_review(version=draft, actor=author)
    services.publish_version(version=draft, actor=publisher)

    for record in records:
        record.refresh_from_db()
        again = services.reevaluate_record(record=record)
        assert again.outputs == record.outputs
        assert again.matched_rules == record.matched_rules


def test_missing_input_is_a_clear_permanent_error_and_records_nothing(carrier_rules):
    with pytest.raises(MissingInput, match="postcode_area"):
        services.decide(rule_set="order-carrier", inputs={"weight_kg": 3})
    assert carrier_rules.decisions.count() == 0


@pytest.mark.parametrize(
    "inputs",
    [{"weight_kg": "heavy", "postcode_area": "SW"}, {"weight_kg": True, "postcode_area": "SW"},
     {"weight_kg": 3, "postcode_area": 7}],
)  # fmt: skip
def test_an_input_of_the_wrong_type_is_refused_not_skipped_past(carrier_rules, inputs):
    # zen would skip the "> 20" row for a string weight and answer "southexpress".
    with pytest.raises(InvalidInput, match="must be a"):
        services.decide(rule_set="order-carrier", inputs=inputs)
    assert carrier_rules.decisions.count() == 0


def _table(*rows: Row, outputs=("carrier",)) -> DecisionTable:
    return DecisionTable(
        hit_policy="first",
        inputs=(Column("weight_kg"),),
        outputs=tuple(Column(o) for o in outputs),
        rows=rows,
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (_table(Row("r1", "", {"weight_kg": "> > 2"}, {"carrier": '"x"'})), "not a valid"),
        (_table(Row("r1", "", {}, {"carrier": '"unterminated'})), "not a valid"),
        (_table(Row("r1", "", {}, {"carrier": ""})), "output 'carrier' is empty"),
        (_table(), "at least one row"),
        (_table(Row("r1", "", {}, {"carrier": '"a"'}), Row("r1", "", {}, {"carrier": '"b"'})),
         "unique id"),
        (_table(Row("r1", "", {}, {"x-y": '"a"'}), outputs=("x-y",)), "not a valid field name"),
    ],
)  # fmt: skip
def test_malformed_tables_are_refused_with_the_reason(table, message):
    with pytest.raises(MalformedRuleSet, match=message):
        check_table(table)


def test_runtime_failure_of_an_output_expression_is_an_error_not_an_empty_answer():
    from decisions.evaluation import evaluate_model
    from decisions.tables import content_digest, to_jdm

    content = to_jdm(_table(Row("r1", "", {}, {"carrier": "1 / weight_kg.nothing"})))
    with pytest.raises(EvaluationFailed, match=r"row 'r1' matched but an output"):
        evaluate_model(content=content, digest=content_digest(content), inputs={"weight_kg": 2})


def test_no_matching_row_is_an_error_not_a_default():
    from decisions.evaluation import evaluate_model
    from decisions.tables import content_digest, to_jdm

    content = to_jdm(_table(Row("heavy", "", {"weight_kg": "> 20"}, {"carrier": '"f"'})))
    with pytest.raises(NoRuleMatched):
        evaluate_model(content=content, digest=content_digest(content), inputs={"weight_kg": 2})
