import pytest

from decisions import selectors, services
from decisions.errors import DecisionError
from opscore.actors import Actor
from processes.orders.rules import ORDER_CARRIER
from tests.factories import start_order, user_with_perms

pytestmark = pytest.mark.django_db


def _decided_order(weight_kg: float, area: str):
    order = start_order()
    services.decide(
        rule_set=ORDER_CARRIER, inputs={"weight_kg": weight_kg, "postcode_area": area},
        instance=order, step="dispatch.execute",
    )  # fmt: skip
    return order


def test_override_rate_is_computed_per_rule_set_and_per_rule(carrier_rules):
    reviewer = Actor.for_user(user_with_perms("processes.review_order"))
    north = [_decided_order(2, "AB") for _ in range(4)]
    south = [_decided_order(2, "SW") for _ in range(6)]
    freight = [_decided_order(30, "SW") for _ in range(2)]
    for order in north[:3]:
        services.record_override(
            instance=order, rule_set=ORDER_CARRIER, chosen={"carrier": "southexpress"},
            reason="northpost does not serve the islands", actor=reviewer,
        )  # fmt: skip
    services.record_override(
        instance=south[0], rule_set=ORDER_CARRIER, chosen={"carrier": "northpost"},
        reason="customer asked", actor=reviewer,
    )  # fmt: skip

    by_ruleset = {r.rule_set: r for r in selectors.override_rates_by_ruleset()}
    assert (by_ruleset[ORDER_CARRIER].overrides, by_ruleset[ORDER_CARRIER].decisions) == (4, 12)
    assert by_ruleset[ORDER_CARRIER].rate == pytest.approx(4 / 12)

    by_rule = selectors.override_rates_by_rule(rule_set=carrier_rules)
    assert [(r.rule_id, r.overrides, r.decisions) for r in by_rule] == [
        ("north", 3, 4),
        ("south", 1, 6),
        ("freight", 0, 2),
    ]
    assert by_rule[0].rate == pytest.approx(0.75)
    assert by_rule[0].rule_description == "Areas A to L"
    assert len(freight) == 2


def test_choosing_what_the_rule_recommended_is_not_an_override(carrier_rules):
    order = _decided_order(2, "AB")
    with pytest.raises(DecisionError, match="not an override"):
        services.record_override(
            instance=order, rule_set=ORDER_CARRIER, chosen={"carrier": "northpost"},
            reason="same", actor=Actor.for_integration("test"),
        )  # fmt: skip


def test_an_override_needs_a_decision_and_a_reason(carrier_rules):
    order = start_order()
    actor = Actor.for_integration("test")
    with pytest.raises(DecisionError, match="reason is required"):
        services.record_override(instance=order, rule_set=ORDER_CARRIER, chosen={}, reason=" ",
                                 actor=actor)  # fmt: skip
    with pytest.raises(DecisionError, match="no 'order-carrier' decision"):
        services.record_override(instance=order, rule_set=ORDER_CARRIER,
                                 chosen={"carrier": "x"}, reason="r", actor=actor)  # fmt: skip
