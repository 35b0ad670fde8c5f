"""Executors of the refund workflow's machine steps: eligibility (a recorded decision with the
`refund-eligibility` rule set), the payment (an HTTP call keyed by the execution) and the
customer's notice (an email through Django's mail).

The refund as requested is `context["input"]`, its customer's name and email sealed
(privacy.sealing); `eligibility`, `payment` and `notice` are the server's."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage

from decisions.services import decide
from integrations.connectors.http import post_json
from opscore.errors import PermanentError
from privacy import sealing
from processes.refunds.rules import REFUND_ELIGIBILITY
from workflows.declaration import StepCall


class InvalidRefund(PermanentError):
    pass


def _refund(context: dict[str, Any]) -> dict[str, Any]:
    refund = context.get("input")
    if not isinstance(refund, dict):
        raise InvalidRefund("refund context has no input (the refund as it was requested)")
    return sealing.reveal(refund)


def _amount(refund: dict[str, Any]) -> Decimal:
    try:
        amount = Decimal(str(refund["amount"]))
    except (KeyError, ArithmeticError, ValueError) as error:
        raise InvalidRefund("refund context needs a numeric 'amount'") from error
    if amount <= 0:
        raise InvalidRefund(f"refund amount must be positive, not {amount}")
    return amount


def _days_since_purchase(call: StepCall, refund: dict[str, Any]) -> int:
    """Counted to the day the refund was requested, so a retry a day later decides the same."""
    try:
        purchased_on = date.fromisoformat(str(refund["purchased_on"]))
    except (KeyError, ValueError) as error:
        raise InvalidRefund("refund context needs 'purchased_on' as YYYY-MM-DD") from error
    days = (call.instance.created_at.date() - purchased_on).days
    if days < 0:
        raise InvalidRefund(f"purchased_on {purchased_on} is after the refund was requested")
    return days


def decide_eligibility(call: StepCall) -> dict[str, Any]:
    """refund.eligibility: eligible or not, and whether a person approves, by the rule set."""
    refund = _refund(call.instance.context)
    record = decide(
        rule_set=REFUND_ELIGIBILITY,
        inputs={
            "days_since_purchase": _days_since_purchase(call, refund),
            "amount": float(_amount(refund)),
        },
        instance=call.instance,
        step="refund.eligibility",
        idempotency_key=f"{call.idempotency_key}:{REFUND_ELIGIBILITY}",
    )
    return {
        "eligible": bool(record.outputs["eligible"]),
        "approval_required": bool(record.outputs["approval_required"]),
        "reason": str(record.outputs.get("reason", "")),
        "decision_id": record.pk,
    }


def record_eligibility(result: dict[str, Any]) -> dict[str, Any]:
    return {"eligibility": result}


def pay(call: StepCall) -> dict[str, Any]:
    """refund.payment: the key makes a repeated payment request a replay, never a second one."""
    refund = _refund(call.instance.context)
    response = post_json(
        url=settings.OPSCORE_PAYMENTS_URL,
        body={
            "refund": call.instance.correlation_key,
            "order": refund.get("order_id", ""),
            "amount": str(_amount(refund)),
            "currency": refund.get("currency", "EUR"),
        },
        idempotency_key=call.idempotency_key,
    )
    return {
        "payment_id": response.body.get("payment_id"),
        "http_status": response.status,
        "replayed": response.replayed,
    }


def record_payment(result: dict[str, Any]) -> dict[str, Any]:
    return {"payment": {"payment_id": result["payment_id"]}}


def notify_customer(call: StepCall) -> dict[str, Any]:
    """refund.notice: tell the customer the money is on its way.

    Mail has no idempotency key: a retry after the server accepted the message but before the
    step committed sends it again, with the same Message-ID, so a mail client shows it once.
    """
    refund = _refund(call.instance.context)
    email = refund.get("email")
    if not email or email in (sealing.ERASED, sealing.UNREADABLE):
        # Erased since the request: nobody left to tell, and the refund is still paid.
        return {"sent_to": None}
    payment_id = (call.instance.context.get("payment") or {}).get("payment_id", "")
    EmailMessage(
        subject=f"Your refund {refund.get('refund_id', '')} is on its way",
        body=(
            f"Dear {refund.get('customer', 'customer')},\n\n"
            f"we have refunded {_amount(refund)} {refund.get('currency', 'EUR')} for order "
            f"{refund.get('order_id', '')}. Payment reference: {payment_id}.\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email],
        headers={"Message-ID": f"<{call.idempotency_key}@opscore>"},
    ).send(fail_silently=False)
    return {"sent_to": email}


def record_notice(result: dict[str, Any]) -> dict[str, Any]:
    # Whether, not to whom: the address stays sealed in the input, and erasable there.
    return {"notice": {"sent": result["sent_to"] is not None}}
