"""Run queued executions in-process, as a worker would, for tests of the logic itself."""

from workflows import services
from workflows.models import Execution
from workflows.models.execution import ExecutionStatus


def drain_executions(*, rounds: int = 10) -> int:
    ran = 0
    for _ in range(rounds):
        pending = list(
            Execution.objects.filter(status=ExecutionStatus.PENDING).values_list("pk", flat=True)
        )
        if not pending:
            break
        for execution_id in pending:
            services.run_execution(execution_id=execution_id)
            ran += 1
    return ran
