from workflows.models.base import WorkflowInstance
from workflows.models.execution import Execution, Timer
from workflows.models.invoice import Invoice, InvoiceState
from workflows.models.order import Order, OrderState

__all__ = [
    "Execution",
    "Invoice",
    "InvoiceState",
    "Order",
    "OrderState",
    "Timer",
    "WorkflowInstance",
]
