"""The event types that start and signal the order workflow, and their bindings, as first
seeded (processes migrations)."""

from typing import Any

from integrations.models import BindingAction

# Closed and bounded: an unknown field or an oversize string is refused (400
# schema_violation, recorded) instead of being copied into the instance and the log. Caller
# input lands under context["input"] whatever the schema, so a closed schema bounds size and
# shape; it is not what keeps a payload from posing as server data. Seeding never overwrites
# an existing event type, so a database seeded earlier keeps its old schema until edited.
# `correlation_key` is allowed because a webhook carries it inside its data (the source's
# `correlation_field`).
ORDER_RECEIVED_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order_id", "customer", "postcode", "weight_kg", "value"],
    "additionalProperties": False,
    # Personal values are sealed under the customer's key (privacy.sealing): the email when
    # given, else the name, identifies them for `erase_subject`.
    "x-subject": ["email", "customer"],
    "properties": {
        "order_id": {"type": "string", "minLength": 1, "maxLength": 100},
        "customer": {"type": "string", "minLength": 1, "maxLength": 200, "x-personal": True},
        "email": {"type": "string", "format": "email", "maxLength": 254, "x-personal": True},
        "address": {"type": "string", "maxLength": 500, "x-personal": True},
        "postcode": {
            "type": "string",
            "maxLength": 16,
            "pattern": "^[A-Za-z]{1,2}[0-9]",
            "x-personal": True,
        },
        "weight_kg": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
        "value": {"type": "number", "minimum": 0, "maximum": 1_000_000_000},
        "correlation_key": {"type": "string", "maxLength": 200},
    },
}
SHIPMENT_DELIVERED_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["tracking_number"],
    "additionalProperties": False,
    # Whoever signed for the parcel is the subject of their own name.
    "x-subject": ["signed_by", "tracking_number"],
    "properties": {
        "tracking_number": {"type": "string", "minLength": 1, "maxLength": 100},
        "signed_by": {"type": "string", "maxLength": 200, "x-personal": True},
        "delivered_at": {"type": "string", "format": "date-time", "maxLength": 64},
        "correlation_key": {"type": "string", "maxLength": 200},
    },
}
EVENT_TYPES = [
    (
        "order.received",
        "A customer order to fulfil; starts the order workflow.",
        ORDER_RECEIVED_SCHEMA,
        {"action": BindingAction.START, "workflow": "order", "transition": ""},
    ),
    (
        "shipment.delivered",
        "The carrier's proof of delivery; signals confirm_delivery on the order.",
        SHIPMENT_DELIVERED_SCHEMA,
        {"action": BindingAction.SIGNAL, "workflow": "order", "transition": "confirm_delivery"},
    ),
]
