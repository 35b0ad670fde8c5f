"""What one workflow step costs the database, as a worker runs it (no test transaction around).

Each statement is a round trip that waits for a PostgreSQL backend, and each transaction block
two more (BEGIN, COMMIT) and a WAL flush; on a loaded machine those waits, not Python, set
how many steps a worker runs a second. These bounds keep a saving from silently going away.
"""

from unittest import mock

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from tests.factories import start_order
from tests.workflows.drain import drain_executions
from workflows import services
from workflows.models import Execution
from workflows.models.execution import ExecutionStatus

# Statements of a low-value order's steps, caches warm (the order's rule sets read once), on
# SQLite; PostgreSQL's audit chain takes one fewer. They were 24 and 23 on PostgreSQL, in
# three transaction blocks, before the lease became one statement, the published versions
# were cached and the outcome lost its savepoint and its read of the execution.
STATEMENTS = {"policy.check": 13, "dispatch.execute": 12}


def _run_counted(execution: Execution) -> tuple[list[str], int]:
    connection = connections["default"]
    with (
        CaptureQueriesContext(connection) as queries,
        mock.patch.object(connection, "commit", wraps=connection.commit) as commits,
    ):
        outcome = services.run_execution(execution_id=execution.pk)
    assert outcome.status == ExecutionStatus.SUCCEEDED
    # SQLite's engine logs its BEGIN and COMMIT; PostgreSQL's are not captured: count them
    # as transactions on both.
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("BEGIN", "COMMIT"))]
    return statements, commits.call_count


@pytest.mark.parametrize("step", sorted(STATEMENTS))
def test_a_step_costs_a_bounded_number_of_statements_and_transactions(live_db, carrier, step):
    start_order(value=50)
    drain_executions()  # a first order's steps: the rule sets it decides with are cached
    order = start_order(value=50)
    if step == "dispatch.execute":
        services.run_execution(
            execution_id=Execution.objects.get(instance_id=order.pk, step="policy.check").pk
        )
    execution = Execution.objects.get(instance_id=order.pk, step=step)

    statements, transactions = _run_counted(execution)

    assert len(statements) <= STATEMENTS[step], "\n".join(statements)
    # The lease is one statement of its own, so is the decision record (it stands even if the
    # step fails after it); the outcome is the one transaction block.
    assert transactions == 1
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED
    assert execution.attempts == 1
