"""The event type that starts the refund workflow and its binding, as first seeded
(processes migrations)."""

from typing import Any

from integrations.models import BindingAction

# Closed and bounded, like the order's: an unknown field or an oversize value is refused
# (400 schema_violation, recorded). The customer's name and email are personal: sealed under
# the customer's key, and erasable.
REFUND_REQUESTED_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["refund_id", "order_id", "customer", "email", "amount", "purchased_on"],
    "additionalProperties": False,
    "x-subject": ["email", "customer"],
    "properties": {
        "refund_id": {"type": "string", "minLength": 1, "maxLength": 100},
        "order_id": {"type": "string", "minLength": 1, "maxLength": 100},
        "customer": {"type": "string", "minLength": 1, "maxLength": 200, "x-personal": True},
        "email": {"type": "string", "format": "email", "maxLength": 254, "x-personal": True},
        "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": 1_000_000_000},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "purchased_on": {"type": "string", "format": "date", "maxLength": 10},
        "reason": {"type": "string", "maxLength": 1000},
        "correlation_key": {"type": "string", "maxLength": 200},
    },
}

EVENT_TYPES = [
    (
        "refund.requested",
        "A customer asks for their money back; starts the refund workflow.",
        REFUND_REQUESTED_SCHEMA,
        {"action": BindingAction.START, "workflow": "refund", "transition": ""},
    ),
]
