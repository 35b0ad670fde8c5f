from workflows.models.base import WorkflowInstance
from workflows.models.execution import Execution, Timer
from workflows.models.order import Order, OrderState

__all__ = ["Execution", "Order", "OrderState", "Timer", "WorkflowInstance"]
