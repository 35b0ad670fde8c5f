"""A stand-in payments API on loopback, for the demo and the tests: pays once per key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from integrations.keyed_sandbox import KeyedLedger, KeyedSandbox


@dataclass
class PaymentsLedger(KeyedLedger):
    resource: ClassVar[str] = "payments"
    unavailable: ClassVar[str] = "payment backend unavailable"
    fail_suppliers: set[str] = field(default_factory=set)

    @property
    def payments(self) -> dict[str, dict[str, Any]]:
        return self.records

    def fails(self, body: dict[str, Any]) -> bool:
        return body.get("supplier") in self.fail_suppliers

    def new_record(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "payment_id": f"PAY-{uuid.uuid4().hex[:12].upper()}",
            "invoice": body.get("invoice", ""),
            "amount": body.get("amount", ""),
            "currency": body.get("currency", ""),
        }


class PaymentsSandbox(KeyedSandbox):
    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, ledger: PaymentsLedger | None = None
    ):
        super().__init__(ledger=ledger or PaymentsLedger(), host=host, port=port)
