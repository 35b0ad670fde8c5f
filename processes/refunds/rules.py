"""The rule set the refund workflow decides with, as first seeded (processes migrations)."""

from decisions.tables import Column, DecisionTable, Row

REFUND_ELIGIBILITY = "refund-eligibility"

# Refunds: asked within 30 days of purchase and up to 5000 are eligible; from 500 a person
# approves. Anything later or larger is refused without asking anyone.
REFUND_ELIGIBILITY_TABLE = DecisionTable(
    hit_policy="first",
    inputs=(
        Column("days_since_purchase", "Days since purchase", "number"),
        Column("amount", "Amount", "number"),
    ),
    outputs=(
        Column("eligible", "Eligible"),
        Column("approval_required", "Needs approval"),
        Column("reason", "Reason"),
    ),
    rows=(
        Row("late", "Asked more than 30 days after purchase", {"days_since_purchase": "> 30"},
            {"eligible": "false", "approval_required": "false",
             "reason": '"more than 30 days after purchase"'}),
        Row("too-large", "Above 5000", {"amount": "> 5000"},
            {"eligible": "false", "approval_required": "false",
             "reason": '"above the 5000 refund limit"'}),
        Row("large", "From 500: a person approves", {"amount": ">= 500"},
            {"eligible": "true", "approval_required": "true",
             "reason": '"500 or more needs approval"'}),
        Row("small", "Small: refunded automatically", {},
            {"eligible": "true", "approval_required": "false", "reason": '"within limits"'}),
    ),
)  # fmt: skip

RULE_SETS = [
    (
        REFUND_ELIGIBILITY,
        "Refund eligibility",
        "Which refunds are paid, and which need a person to approve them first.",
        REFUND_ELIGIBILITY_TABLE,
    ),
]
