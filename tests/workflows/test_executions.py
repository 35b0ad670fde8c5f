import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from audit.selectors import instance_timeline
from opscore.actors import Actor
from processes.orders.models import OrderState
from tests.factories import start_order, user_with_perms
from tests.workflows.drain import drain_executions
from workflows import engine, registry, services
from workflows.models import Execution
from workflows.models.execution import ExecutionStatus

pytestmark = pytest.mark.django_db


def _dispatch_execution(order) -> Execution:
    return Execution.objects.get(instance_id=order.pk, step="dispatch.execute")


def test_idempotency_key_is_deterministic_per_instance_step_and_version(carrier):
    order = start_order()
    drain_executions()
    policy, dispatch = Execution.objects.filter(instance_id=order.pk).order_by("created_at")
    assert policy.idempotency_key == f"order:{order.pk}:policy.check:v0"
    assert dispatch.idempotency_key == f"order:{order.pk}:dispatch.execute:v1"
    assert carrier.ledger.requests_by_key == {dispatch.idempotency_key: 1}


def test_retryable_failure_schedules_a_backoff_then_succeeds_with_the_same_key(carrier):
    carrier.ledger.fail_postcodes.add("ZZ9 9ZZ")
    order = start_order(postcode="ZZ9 9ZZ")
    drain_executions()
    execution = _dispatch_execution(order)
    assert execution.status == ExecutionStatus.FAILED
    assert "503" in execution.last_error
    assert execution.next_attempt_at > timezone.now()

    # Not due yet: a redelivered queue message must not run it early.
    services.run_execution(execution_id=execution.pk)
    execution.refresh_from_db()
    assert execution.attempts == 1

    carrier.ledger.fail_postcodes.clear()
    with time_machine.travel(execution.next_attempt_at + timedelta(seconds=1)):
        report = services.sweep_due_work()
        assert report.retries_enqueued == 1
        drain_executions()
    execution.refresh_from_db()
    order.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED
    assert execution.attempts == 2
    assert order.state == OrderState.AWAITING_POD
    assert carrier.ledger.requests_by_key[execution.idempotency_key] == 2
    assert carrier.ledger.stats()["shipments"] == 1


def test_backoff_grows_and_stays_within_its_ceiling(settings):
    from workflows.backoff import retry_delay

    settings.OPSCORE_EXECUTION = {**settings.OPSCORE_EXECUTION, "BACKOFF_BASE_SECONDS": 10}
    settings.OPSCORE_EXECUTION["BACKOFF_MAX_SECONDS"] = 60
    for attempt, ceiling in [(1, 10), (2, 20), (3, 40), (4, 60), (9, 60)]:
        delays = [retry_delay(attempt=attempt).total_seconds() for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_exhausted_attempts_go_to_the_dead_letter(carrier):
    carrier.ledger.fail_postcodes.add("ZZ9 9ZZ")
    order = start_order(postcode="ZZ9 9ZZ")
    drain_executions()
    execution = _dispatch_execution(order)
    for _ in range(execution.max_attempts - 1):
        execution.refresh_from_db()
        with time_machine.travel(execution.next_attempt_at + timedelta(seconds=1)):
            services.sweep_due_work()
            drain_executions()
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.DEAD
    assert execution.attempts == execution.max_attempts
    order.refresh_from_db()
    assert order.state == OrderState.DISPATCHING  # waits for an operator, not lost
    types = [event.type for event in instance_timeline(instance=order)]
    assert types.count("execution.attempt_failed") == execution.max_attempts - 1
    assert types[-1] == "execution.dead"


def test_a_4xx_is_final_and_dead_on_the_first_attempt(carrier, settings):
    settings.OPSCORE_CARRIER_URL = carrier.url.replace("/shipments", "/no-such-endpoint")
    order = start_order()
    drain_executions()
    execution = _dispatch_execution(order)
    assert execution.status == ExecutionStatus.DEAD
    assert execution.attempts == 1
    assert "refused with 404" in execution.last_error


def test_invalid_order_data_is_dead_not_retried():
    order = start_order(value="not a number")
    drain_executions()
    execution = Execution.objects.get(instance_id=order.pk, step="policy.check")
    assert execution.status == ExecutionStatus.DEAD
    assert "numeric 'value'" in execution.last_error


def test_operator_retry_of_a_dead_execution_reuses_its_key(carrier, settings):
    good_url = carrier.url
    settings.OPSCORE_CARRIER_URL = good_url.replace("/shipments", "/gone")
    order = start_order()
    drain_executions()
    execution = _dispatch_execution(order)
    assert execution.status == ExecutionStatus.DEAD

    settings.OPSCORE_CARRIER_URL = good_url
    operator = user_with_perms("workflows.change_execution")
    services.retry_execution(execution=execution, actor=Actor.for_user(operator))
    drain_executions()
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED
    assert carrier.ledger.requests_by_key == {execution.idempotency_key: 1}
    retried = [e for e in instance_timeline(instance=order) if e.type == "execution.retried"]
    assert retried[0].actor_ref == operator.username


def test_retry_of_a_succeeded_execution_is_refused(carrier):
    order = start_order()
    drain_executions()
    execution = _dispatch_execution(order)
    with pytest.raises(engine.WorkflowError, match="only dead or failed"):
        services.retry_execution(execution=execution, actor=Actor.for_integration("ops"))


def test_a_step_whose_instance_moved_on_is_skipped_not_run(carrier):
    order = start_order()
    operator = user_with_perms("processes.cancel_order")
    services.cancel_workflow(instance=order, actor=Actor.for_user(operator), reason="duplicate")
    drain_executions()
    execution = Execution.objects.get(instance_id=order.pk, step="policy.check")
    assert execution.status == ExecutionStatus.SKIPPED
    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED


def test_a_step_whose_instance_moved_on_never_shows_as_running(live_db, carrier):
    order = start_order()
    operator = user_with_perms("processes.cancel_order")
    services.cancel_workflow(instance=order, actor=Actor.for_user(operator), reason="duplicate")
    execution = Execution.objects.get(instance_id=order.pk, step="policy.check")
    seen: list[str] = []

    def look() -> None:
        # Another connection, as the admin or the API reading the execution meanwhile.
        try:
            seen.append(Execution.objects.get(pk=execution.pk).status)
        finally:
            connection.close()

    def after_each_statement(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        observer = threading.Thread(target=look)
        observer.start()
        observer.join(timeout=10)
        return result

    with connection.execute_wrapper(after_each_statement):
        outcome = services.run_execution(execution_id=execution.pk)

    assert seen
    assert ExecutionStatus.RUNNING not in seen, seen
    assert outcome.status == ExecutionStatus.SKIPPED
    execution.refresh_from_db()
    assert (execution.status, execution.attempts) == (ExecutionStatus.SKIPPED, 0)
    assert execution.lease_expires_at is None
    skipped = [e for e in instance_timeline(instance=order) if e.type == "execution.skipped"]
    assert [e.payload["step"] for e in skipped] == ["policy.check"]


def test_an_expired_lease_makes_the_step_runnable_again(carrier):
    order = start_order()
    execution = Execution.objects.get(instance_id=order.pk, step="policy.check")
    # A worker claims the step and dies before recording anything.
    claimed = services._claim(execution_id=execution.pk, now=timezone.now())
    assert claimed.status == ExecutionStatus.RUNNING
    assert services.run_execution(execution_id=execution.pk).status == ExecutionStatus.RUNNING

    with time_machine.travel(claimed.lease_expires_at + timedelta(seconds=1)):
        assert services.sweep_due_work().leases_recovered == 1
        drain_executions()
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED
    assert execution.attempts == 2


def test_proof_of_delivery_timer_fails_the_order_when_it_runs_out(carrier, settings):
    settings.OPSCORE_POD_TIMEOUT_HOURS = 48
    order = start_order()
    drain_executions()
    order.refresh_from_db()
    assert order.state == OrderState.AWAITING_POD
    due = timezone.now() + timedelta(hours=48)

    with time_machine.travel(due - timedelta(seconds=5)):
        assert services.sweep_due_work().timers_fired == 0
    with time_machine.travel(due + timedelta(seconds=5)):
        assert services.sweep_due_work().timers_fired == 1
        assert services.sweep_due_work().timers_fired == 0
    order.refresh_from_db()
    assert order.state == OrderState.FAILED


def test_a_timer_is_obsolete_once_the_signal_arrived(carrier):
    order = start_order()
    drain_executions()
    services.signal_workflow(
        workflow="order",
        correlation_key=order.correlation_key,
        transition="confirm_delivery",
        actor=Actor.for_integration("carrier"),
    )
    with time_machine.travel(timezone.now() + timedelta(days=30)):
        assert services.sweep_due_work().timers_fired == 0
    order.refresh_from_db()
    assert order.state == OrderState.COMPLETED


def test_a_step_reads_its_instance_once_before_the_engine_locks_it(carrier):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    order = start_order(value=50)
    policy = Execution.objects.get(instance_id=order.pk, step="policy.check")
    with CaptureQueriesContext(connection) as queries:
        services.run_execution(execution_id=policy.pk)

    reads = [
        q["sql"]
        for q in queries
        if q["sql"].startswith("SELECT") and 'FROM "processes_order"' in q["sql"]
    ]
    # One read when the lease is taken (is the step still current?), used by the executor
    # too; then the engine's locked read for the transition (FOR UPDATE on PostgreSQL).
    assert len(reads) == 2
    order.refresh_from_db()
    assert order.state == OrderState.DISPATCHING


def test_an_outcome_that_arrives_after_the_instance_moved_on_is_recorded_as_ignored(carrier):
    order = start_order(value=50)
    policy = Execution.objects.get(instance_id=order.pk, step="policy.check")
    claimed = services._claim(execution_id=policy.pk, now=timezone.now())
    # While the step runs, an operator cancels the order.
    operator = user_with_perms("processes.cancel_order")
    services.cancel_workflow(instance=order, actor=Actor.for_user(operator), reason="duplicate")

    outcome = services._record_success(
        execution=claimed,
        instance=claimed.instance,
        step=registry.get("order").step_named("policy.check"),
        result={"review_required": False, "reasons": [], "decision_id": None},
    )

    assert outcome.status == ExecutionStatus.SUCCEEDED
    claimed.refresh_from_db()
    assert claimed.status == ExecutionStatus.SUCCEEDED
    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    types = [event.type for event in instance_timeline(instance=order)]
    assert types[-1] == "execution.outcome_ignored"
    assert "clear_policy" not in str(list(instance_timeline(instance=order).values("payload")))
