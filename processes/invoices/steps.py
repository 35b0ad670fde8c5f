"""Executors of the invoice workflow's machine steps: the approval tier (a recorded decision
with the `invoice-approval` rule set) and the payment (an HTTP call keyed by the execution).

The invoice as received is `context["input"]`; `approval` and `payment` are the server's."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

from decisions.services import decide
from integrations.connectors.http import post_json
from opscore.errors import PermanentError
from processes.invoices.rules import INVOICE_APPROVAL
from workflows.declaration import StepCall
from workflows.models import WorkflowInstance

AUTO = "auto"
MANAGER_AND_FINANCE = "manager_and_finance"


class InvalidInvoice(PermanentError):
    pass


def _invoice(context: dict[str, Any]) -> dict[str, Any]:
    invoice = context.get("input")
    if not isinstance(invoice, dict):
        raise InvalidInvoice("invoice context has no input (the invoice as it was received)")
    return invoice


def _amount(context: dict[str, Any]) -> Decimal:
    try:
        amount = Decimal(str(_invoice(context)["amount"]))
    except (KeyError, ArithmeticError, ValueError) as error:
        raise InvalidInvoice("invoice context needs a numeric 'amount'") from error
    if amount <= 0:
        raise InvalidInvoice(f"invoice amount must be positive, not {amount}")
    return amount


def decide_tier(call: StepCall) -> dict[str, Any]:
    """approval.tier: how many people must approve, by amount."""
    record = decide(
        rule_set=INVOICE_APPROVAL,
        inputs={"amount": float(_amount(call.instance.context))},
        instance=call.instance,
        step="approval.tier",
        idempotency_key=f"{call.idempotency_key}:{INVOICE_APPROVAL}",
    )
    return {"tier": str(record.outputs["tier"]), "decision_id": record.pk}


def pays_without_approval(result: dict[str, Any]) -> bool:
    """The tier the rule set chose lets the invoice be paid without a person."""
    return result["tier"] == AUTO


def record_tier(result: dict[str, Any]) -> dict[str, Any]:
    return {"approval": result}


def needs_finance_approval(instance: WorkflowInstance) -> bool:
    """The largest tier goes on to a finance director after its manager; the rest are paid."""
    return (instance.context.get("approval") or {}).get("tier") == MANAGER_AND_FINANCE


def pay(call: StepCall) -> dict[str, Any]:
    """payment.execute: the key makes a repeated payment request a replay, never a second one."""
    context = call.instance.context
    invoice = _invoice(context)
    response = post_json(
        url=settings.OPSCORE_PAYMENTS_URL,
        body={
            "invoice": call.instance.correlation_key,
            "supplier": invoice.get("supplier", ""),
            "amount": str(_amount(context)),
            "currency": invoice.get("currency", "EUR"),
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
