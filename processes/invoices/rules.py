"""The rule set the invoice workflow decides with, as first seeded (processes migrations)."""

from decisions.tables import Column, DecisionTable, Row

INVOICE_APPROVAL = "invoice-approval"

# Invoices: below 1000 paid without a person, below 10000 a manager approves, from 10000 a
# manager and then a finance director (two different people).
INVOICE_APPROVAL_TABLE = DecisionTable(
    hit_policy="first",
    inputs=(Column("amount", "Amount", "number"),),
    outputs=(Column("tier", "Approvals needed"),),
    rows=(
        Row("small", "Small: paid automatically", {"amount": "< 1000"}, {"tier": '"auto"'}),
        Row("medium", "Medium: a manager", {"amount": "< 10000"}, {"tier": '"manager"'}),
        Row("large", "Large: a manager and a finance director", {},
            {"tier": '"manager_and_finance"'}),
    ),
)  # fmt: skip

RULE_SETS = [
    (
        INVOICE_APPROVAL,
        "Invoice approval tiers",
        "How many people approve an invoice, by amount.",
        INVOICE_APPROVAL_TABLE,
    ),
]
