from workflows.models.base import WorkflowInstance
from workflows.models.execution import Execution, Timer

__all__ = [
    "Execution",
    "Timer",
    "WorkflowInstance",
]
