"""The rule sets the order workflow decides with, as first seeded (processes migrations).

Their content is the order workflow's original behaviour: an order at or above 1000 in
value, or above 30 kg, goes to manual review; above 20 kg ships with freightline, postcode
areas A-L with northpost, the rest with southexpress.
"""

from decisions.tables import Column, DecisionTable, Row

ORDER_POLICY = "order-policy"
ORDER_CARRIER = "order-carrier"

_VALUE = '"value at or above 1000"'
_WEIGHT = '"weight above 30 kg"'

ORDER_POLICY_TABLE = DecisionTable(
    hit_policy="first",
    inputs=(
        Column("value", "Order value", "number"),
        Column("weight_kg", "Weight (kg)", "number"),
    ),
    outputs=(Column("review_required", "Needs review"), Column("reasons", "Reasons")),
    rows=(
        Row("high-value-heavy", "High value and heavy", {"value": ">= 1000", "weight_kg": "> 30"},
            {"review_required": "true", "reasons": f"[{_VALUE}, {_WEIGHT}]"}),
        Row("high-value", "High value", {"value": ">= 1000"},
            {"review_required": "true", "reasons": f"[{_VALUE}]"}),
        Row("heavy", "Heavy", {"weight_kg": "> 30"},
            {"review_required": "true", "reasons": f"[{_WEIGHT}]"}),
        Row("low-risk", "Low risk", {}, {"review_required": "false", "reasons": "[]"}),
    ),
)  # fmt: skip

ORDER_CARRIER_TABLE = DecisionTable(
    hit_policy="first",
    inputs=(
        Column("weight_kg", "Weight (kg)", "number"),
        Column("postcode_area", "Postcode area", "string"),
    ),
    outputs=(Column("carrier", "Carrier"),),
    rows=(
        Row("freight", "Heavy parcels go by freight", {"weight_kg": "> 20"},
            {"carrier": '"freightline"'}),
        Row("north", "Areas A to L", {"postcode_area": 'matches($, "^[A-L]")'},
            {"carrier": '"northpost"'}),
        Row("south", "Everything else", {}, {"carrier": '"southexpress"'}),
    ),
)  # fmt: skip

RULE_SETS = [
    (
        ORDER_POLICY,
        "Order policy check",
        "Which orders a person must review before dispatch.",
        ORDER_POLICY_TABLE,
    ),
    (
        ORDER_CARRIER,
        "Order carrier choice",
        "Which carrier ships an order, by weight and postcode area.",
        ORDER_CARRIER_TABLE,
    ),
]
