"""Executors of the order workflow's machine steps.

The policy and the carrier choice are plain functions for now; the decision layer replaces
them with published rule sets without touching the workflow.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

from integrations.connectors.http import post_json
from opscore.errors import PermanentError
from workflows.registry import StepCall

REVIEW_VALUE_THRESHOLD = Decimal("1000")
REVIEW_WEIGHT_THRESHOLD_KG = Decimal("30")


class InvalidOrder(PermanentError):
    pass


def _decimal(context: dict[str, Any], key: str) -> Decimal:
    try:
        return Decimal(str(context[key]))
    except (KeyError, ArithmeticError, ValueError) as error:
        raise InvalidOrder(f"order context needs a numeric {key!r}") from error


def check_policy(call: StepCall) -> dict[str, Any]:
    """policy.check: decide whether a person must review the order."""
    context = call.instance.context
    reasons = []
    if _decimal(context, "value") >= REVIEW_VALUE_THRESHOLD:
        reasons.append(f"value at or above {REVIEW_VALUE_THRESHOLD}")
    if _decimal(context, "weight_kg") > REVIEW_WEIGHT_THRESHOLD_KG:
        reasons.append(f"weight above {REVIEW_WEIGHT_THRESHOLD_KG} kg")
    return {"review_required": bool(reasons), "reasons": reasons}


def route_after_policy(result: dict[str, Any]) -> str:
    return "flag_for_review" if result["review_required"] else "clear_policy"


def record_policy(result: dict[str, Any]) -> dict[str, Any]:
    return {"policy": result}


def choose_carrier(context: dict[str, Any]) -> str:
    postcode = str(context.get("postcode", "")).strip().upper()
    if not postcode:
        raise InvalidOrder("order context needs a postcode to choose a carrier")
    if _decimal(context, "weight_kg") > Decimal("20"):
        return "freightline"
    return "northpost" if postcode[0] < "M" else "southexpress"


def dispatch_to_carrier(call: StepCall) -> dict[str, Any]:
    """dispatch.execute: book the shipment; the key makes a repeated booking a no-op."""
    context = call.instance.context
    carrier = choose_carrier(context)
    response = post_json(
        url=settings.OPSCORE_CARRIER_URL,
        body={
            "order": call.instance.correlation_key,
            "carrier": carrier,
            "postcode": context.get("postcode"),
            "weight_kg": str(context.get("weight_kg")),
        },
        idempotency_key=call.idempotency_key,
    )
    return {
        "carrier": carrier,
        "shipment_id": response.body.get("shipment_id"),
        "http_status": response.status,
        "replayed": response.replayed,
    }


def record_shipment(result: dict[str, Any]) -> dict[str, Any]:
    return {"shipment": {"carrier": result["carrier"], "shipment_id": result["shipment_id"]}}
