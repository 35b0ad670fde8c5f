"""Executors of the order workflow's machine steps.

The policy check and the carrier choice are decisions: each evaluates the published version
of its rule set (`order-policy`, `order-carrier`) and records a DecisionRecord linked to the
order and the step. A decision error (no published version, a missing input) is permanent.

The order as the caller sent it is `context["input"]`; everything else in the context (the
policy result, a reviewer's `carrier_choice`, the shipment) was written by the server.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django.conf import settings

from approvals.models import TaskStatus
from approvals.selectors import tasks_for
from decisions.models import DecisionRecord
from decisions.services import decide, record_override
from integrations.connectors.http import post_json
from opscore.actors import Actor
from opscore.errors import PermanentError
from privacy import sealing
from processes.orders.rules import ORDER_CARRIER, ORDER_POLICY
from workflows.declaration import StepCall

POSTCODE_AREA = re.compile(r"^[A-Z]+")


class InvalidOrder(PermanentError):
    pass


def _order(context: dict[str, Any]) -> dict[str, Any]:
    """The order as received, its personal values (postcode, customer) revealed: they are
    stored sealed (privacy.sealing), and an erased one reads "[erased]"."""
    order = context.get("input")
    if not isinstance(order, dict):
        raise InvalidOrder("order context has no input (the order as it was received)")
    return sealing.reveal(order)


def _decimal(order: dict[str, Any], key: str) -> Decimal:
    try:
        return Decimal(str(order[key]))
    except (KeyError, ArithmeticError, ValueError) as error:
        raise InvalidOrder(f"order context needs a numeric {key!r}") from error


def _decide(call: StepCall, *, rule_set: str, step: str, inputs: dict[str, Any]) -> DecisionRecord:
    # Keyed by the execution, so a retried step reuses its first decision.
    return decide(
        rule_set=rule_set,
        inputs=inputs,
        instance=call.instance,
        step=step,
        idempotency_key=f"{call.idempotency_key}:{rule_set}",
    )


def check_policy(call: StepCall) -> dict[str, Any]:
    """policy.check: decide, with the order-policy rule set, whether a person must review."""
    order = _order(call.instance.context)
    inputs = {
        "value": float(_decimal(order, "value")),
        "weight_kg": float(_decimal(order, "weight_kg")),
    }
    record = _decide(call, rule_set=ORDER_POLICY, step="policy.check", inputs=inputs)
    return {
        "review_required": bool(record.outputs["review_required"]),
        "reasons": list(record.outputs["reasons"]),
        "decision_id": record.pk,
    }


def record_policy(result: dict[str, Any]) -> dict[str, Any]:
    return {"policy": result}


def carrier_inputs(context: dict[str, Any]) -> dict[str, Any]:
    """The order-carrier rule set's inputs: weight and postcode area (its leading letters)."""
    order = _order(context)
    postcode = str(order.get("postcode", "")).strip().upper()
    if not postcode:
        raise InvalidOrder("order context needs a postcode to choose a carrier")
    if postcode == sealing.ERASED.upper():
        raise InvalidOrder("the order's postcode was erased; it cannot be dispatched")
    area = POSTCODE_AREA.match(postcode)
    if area is None:
        raise InvalidOrder(f"postcode {postcode!r} does not start with an area (letters)")
    return {"weight_kg": float(_decimal(order, "weight_kg")), "postcode_area": area.group()}


def dispatch_to_carrier(call: StepCall) -> dict[str, Any]:
    """dispatch.execute: book the shipment; the key makes a repeated booking a no-op."""
    context = call.instance.context
    record = _decide(
        call, rule_set=ORDER_CARRIER, step="dispatch.execute", inputs=carrier_inputs(context)
    )
    carrier = record.outputs["carrier"]
    order = _order(context)
    choice = context.get("carrier_choice") or {}
    if choice.get("carrier") and choice["carrier"] != carrier:
        carrier = choice["carrier"]
        _record_carrier_override(call, choice)
    response = post_json(
        url=settings.OPSCORE_CARRIER_URL,
        body={
            "order": call.instance.correlation_key,
            "carrier": carrier,
            "postcode": order.get("postcode"),
            "weight_kg": str(order.get("weight_kg")),
        },
        idempotency_key=call.idempotency_key,
    )
    return {
        "carrier": carrier,
        "shipment_id": response.body.get("shipment_id"),
        "http_status": response.status,
        "replayed": response.replayed,
        "decision_id": record.pk,
    }


def _record_carrier_override(call: StepCall, choice: dict[str, Any]) -> None:
    """A reviewer chose the carrier (context "carrier_choice": carrier, by, reason, written
    only by the approval that made the choice); the table's recommendation stays recorded
    and the choice counts against its matched row. The override is the approver's: the
    person who decided the review, whatever name the choice carries."""
    approval = (
        tasks_for(instance=call.instance)
        .filter(status=TaskStatus.APPROVED, decided_by__isnull=False)
        .select_related("decided_by")
        .order_by("-decided_at", "-pk")
        .first()
    )
    if approval is not None:
        actor = Actor.for_user(approval.decided_by)
    else:  # no approval to vouch for it: keep the name, never link it to an account
        actor = Actor(kind="user", ref=f"unverified:{str(choice.get('by', '?'))[:100]}")
    record_override(
        instance=call.instance,
        rule_set=ORDER_CARRIER,
        chosen={"carrier": choice["carrier"]},
        reason=str(choice.get("reason") or "carrier chosen in review"),
        actor=actor,
    )


def record_shipment(result: dict[str, Any]) -> dict[str, Any]:
    return {"shipment": {"carrier": result["carrier"], "shipment_id": result["shipment_id"]}}
