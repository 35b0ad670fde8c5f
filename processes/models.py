"""The concrete workflows' instance models, one subpackage per workflow."""

from processes.invoices.models import Invoice, InvoiceState
from processes.orders.models import Order, OrderState
from processes.refunds.models import Refund, RefundState

__all__ = ["Invoice", "InvoiceState", "Order", "OrderState", "Refund", "RefundState"]
