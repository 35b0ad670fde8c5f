"""The concrete workflows' instance models, one subpackage per workflow."""

from processes.invoices.models import Invoice, InvoiceState
from processes.orders.models import Order, OrderState

__all__ = ["Invoice", "InvoiceState", "Order", "OrderState"]
