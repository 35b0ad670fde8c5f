"""A stand-in carrier API on loopback, for the demo and the tests: books a shipment per key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from integrations.keyed_sandbox import KeyedLedger, KeyedSandbox


@dataclass
class CarrierLedger(KeyedLedger):
    resource: ClassVar[str] = "shipments"
    unavailable: ClassVar[str] = "carrier backend unavailable"
    fail_postcodes: set[str] = field(default_factory=set)

    @property
    def shipments(self) -> dict[str, dict[str, Any]]:
        return self.records

    def fails(self, body: dict[str, Any]) -> bool:
        return body.get("postcode") in self.fail_postcodes

    def new_record(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "shipment_id": f"SHP-{uuid.uuid4().hex[:12].upper()}",
            "carrier": body.get("carrier", ""),
            "order": body.get("order", ""),
        }


class CarrierSandbox(KeyedSandbox):
    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, ledger: CarrierLedger | None = None
    ):
        super().__init__(ledger=ledger or CarrierLedger(), host=host, port=port)
