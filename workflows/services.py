"""Workflow use cases: start, signal, cancel, run a step, retry a dead step, sweep due work."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from opscore import request_context
from opscore.actors import SYSTEM, Actor
from opscore.errors import PermanentError
from opscore.metrics import (
    ATTEMPTS_PER_SUCCESS,
    DEAD_LETTERS,
    LEASE_RECOVERIES,
    STEP_QUEUE_SECONDS,
    STEP_RUN_SECONDS,
    TIMER_LAG,
)
from opscore.scrubbing import recordable
from workflows import engine, registry
from workflows.backoff import retry_delay
from workflows.declaration import MachineStep, StepCall
from workflows.models import Execution, Timer, WorkflowInstance
from workflows.models.base import new_correlation_key
from workflows.models.execution import ExecutionStatus

logger = structlog.stdlib.get_logger(__name__)


def start_workflow(
    *,
    workflow: str,
    payload: dict[str, Any],
    actor: Actor,
    correlation_key: str | None = None,
    trigger: dict[str, Any] | None = None,
    savepoint: bool = True,
) -> WorkflowInstance:
    """Start an instance of `workflow`; a correlation key is generated when none is given.

    What the caller sent lands under `context["input"]` and nowhere else: the top level of the
    context belongs to the server (policy results, approvals, a reviewer's carrier choice),
    so no payload can pose as one of those. `trigger` says which inbound event started it.
    `savepoint` as in `engine.start_instance`.
    """
    start = _instance_start(payload=payload, correlation_key=correlation_key, trigger=trigger)
    return engine.start_instance(
        definition=registry.get(workflow),
        correlation_key=start.correlation_key,
        context=start.context,
        actor=actor,
        savepoint=savepoint,
    )


@dataclass(frozen=True)
class WorkflowStart:
    """One start for `start_workflows`: what `start_workflow` takes for one instance."""

    payload: dict[str, Any]
    correlation_key: str | None = None
    trigger: dict[str, Any] | None = None


def start_workflows(
    *, workflow: str, starts: list[WorkflowStart], actor: Actor, savepoint: bool = True
) -> list[WorkflowInstance]:
    """Start many instances of `workflow` at once (`engine.start_instances`), each with the
    context and key `start_workflow` would give it; all or none (`DuplicateCorrelationKey`)."""
    return engine.start_instances(
        definition=registry.get(workflow),
        starts=[
            _instance_start(
                payload=start.payload, correlation_key=start.correlation_key, trigger=start.trigger
            )
            for start in starts
        ],
        actor=actor,
        savepoint=savepoint,
    )


def _instance_start(
    *, payload: dict[str, Any], correlation_key: str | None, trigger: dict[str, Any] | None
) -> engine.InstanceStart:
    context: dict[str, Any] = {"input": dict(payload)}
    if trigger is not None:
        context["trigger"] = dict(trigger)
    return engine.InstanceStart(
        correlation_key=correlation_key or new_correlation_key(), context=context
    )


def signal_workflow(
    *,
    workflow: str,
    correlation_key: str,
    transition: str,
    actor: Actor,
    data: dict[str, Any] | None = None,
    trigger: dict[str, Any] | None = None,
) -> WorkflowInstance:
    """Deliver an outside signal (a proof of delivery, a callback) to a running instance.

    Only a transition the workflow declares as a signal (a wait step's) is delivered, whoever
    asks; what the signal carries (`data`) lands under `context["signals"][transition]
    ["input"]`, beside the `trigger` that brought it, never at the context's top level.
    """
    definition = registry.get(workflow)
    if transition not in definition.signals():
        raise engine.TransitionNotPermitted(
            f"{transition!r} is not a signal of the {workflow} workflow "
            f"(signals: {', '.join(sorted(definition.signals())) or 'none'})"
        )
    instance = definition.model.objects.get(correlation_key=correlation_key)
    received = {"input": dict(data or {})}
    if trigger is not None:
        received["trigger"] = dict(trigger)
    return engine.transition(
        instance=instance,
        name=transition,
        actor=actor,
        data={**(trigger or {}), "payload": data or {}},
        context_update={"signals": {transition: received}},
    )


def cancel_workflow(*, instance: WorkflowInstance, actor: Actor, reason: str) -> WorkflowInstance:
    if not reason.strip():
        raise engine.WorkflowError("a reason is required to cancel")
    return engine.transition(
        instance=instance, name="cancel", actor=actor, data={"reason": recordable(reason)}
    )


# --- execution -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOutcome:
    execution_id: int
    status: str


def _load_instance(execution: Execution) -> WorkflowInstance:
    return _instance_model(execution).objects.get(pk=execution.instance_id)


def _instance_model(execution: Execution) -> type[WorkflowInstance]:
    # Content types are cached per process: no query after the first.
    return ContentType.objects.get_for_id(execution.instance_type_id).model_class()


_EXECUTION_TABLE = Execution._meta.db_table
_EXECUTION_COLUMNS = ", ".join(f.column for f in Execution._meta.concrete_fields)
_RUNNABLE = """
      id = %(id)s
      AND status IN (%(pending)s, %(failed)s, %(running)s)
      AND (status <> %(running)s OR lease_expires_at <= %(now)s)
      AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s)"""
# One statement takes the lease (a row lock and the commit, never a read and then a write):
# the row is ours only if it is runnable now and its instance has not moved on, so of two
# runs racing for it one gets it; PostgreSQL re-checks the conditions on the row a concurrent
# update left.
_CLAIM_SQL = f"""
    UPDATE {_EXECUTION_TABLE}
    SET status = %(running)s, attempts = attempts + 1, lease_expires_at = %(lease_until)s,
        next_attempt_at = NULL, updated_at = %(now)s
    WHERE {_RUNNABLE}
      AND instance_version = ({{current_version}})
    RETURNING {_EXECUTION_COLUMNS}
"""  # noqa: S608 - table and columns are the model's own
# A runnable execution whose instance moved on goes from waiting to skipped directly, its
# attempt not counted: nobody ever reads it as running.
_SKIP_SQL = f"""
    UPDATE {_EXECUTION_TABLE}
    SET status = %(skipped)s, lease_expires_at = NULL, next_attempt_at = NULL,
        finished_at = %(now)s, updated_at = %(now)s
    WHERE {_RUNNABLE}
      AND instance_version <> ({{current_version}})
    RETURNING {_EXECUTION_COLUMNS}
"""  # noqa: S608 - table and columns are the model's own


def _statement(template: str) -> str:
    """`template` with the version of the instance an execution row names, read from its
    workflow's own table (NULL for a type no registered workflow has)."""
    return template.format(
        current_version=_current_version_sql(
            tuple(
                (
                    model._meta.app_label,
                    model._meta.model_name,
                    model._meta.db_table,
                    model._meta.pk.column,
                )
                for model in sorted(
                    {definition.model for definition in registry.all_definitions()},
                    key=lambda model: model._meta.label,
                )
            )
        )
    )


@functools.cache
def _current_version_sql(tables: tuple[tuple[str, str, str, str], ...]) -> str:
    # Each workflow has its own table; the row's content type names which one. Identifiers
    # and labels are the models' own (Django's `[a-z0-9_]` labels), nothing from a caller.
    quote = connection.ops.quote_name
    branches = " ".join(
        f"WHEN ct.app_label = '{app_label}' AND ct.model = '{model_name}' THEN "  # noqa: S608
        f"(SELECT i.version FROM {quote(table)} i "
        f"WHERE i.{quote(pk)} = {_EXECUTION_TABLE}.instance_id)"
        for app_label, model_name, table, pk in tables
    )
    return (
        f"SELECT CASE {branches} END FROM {quote(ContentType._meta.db_table)} ct "  # noqa: S608
        f"WHERE ct.id = {_EXECUTION_TABLE}.instance_type_id"
    )


def _claim(*, execution_id: int, now: datetime) -> Execution | None:
    """Take the lease on a runnable execution, or return None when it is not ours to run.

    The lease is taken in one statement of its own, which also checks that the instance has
    not moved on; then the instance is read. That read stays on it (`execution.instance`):
    the run and its outcome use it, and the engine locks and reads the instance afresh to
    transition. An execution whose instance moved on is skipped, its attempt not counted."""
    lease = timedelta(seconds=settings.OPSCORE_EXECUTION["LEASE_SECONDS"])
    params = {
        "id": execution_id,
        "now": now,
        "lease_until": now + lease,
        "running": ExecutionStatus.RUNNING,
        "pending": ExecutionStatus.PENDING,
        "failed": ExecutionStatus.FAILED,
        "skipped": ExecutionStatus.SKIPPED,
    }
    claimed = list(Execution.objects.raw(_statement(_CLAIM_SQL), params))
    if not claimed:
        # Not runnable (leased, finished, not due) or its instance moved on: only the latter
        # is skipped, in one transaction with its event.
        with transaction.atomic():
            for skipped in Execution.objects.raw(_statement(_SKIP_SQL), params):
                _record_skipped(execution=skipped, instance=_load_instance(skipped))
        return None
    execution = claimed[0]
    instance = _load_instance(execution)
    if instance.version != execution.instance_version:
        # It moved on between the lease and this read.
        with transaction.atomic():
            # Ours under the lease just taken, so nobody else changes it meanwhile.
            Execution.objects.filter(pk=execution.pk).update(
                status=ExecutionStatus.SKIPPED,
                attempts=F("attempts") - 1,
                lease_expires_at=None,
                finished_at=now,
                updated_at=timezone.now(),
            )
            _record_skipped(execution=execution, instance=instance)
        return None
    execution.instance = instance
    return execution


def _record_skipped(*, execution: Execution, instance: WorkflowInstance) -> None:
    engine.record_step_event(
        instance=instance,
        type="execution.skipped",
        actor=SYSTEM,
        payload={"step": execution.step, "idempotency_key": execution.idempotency_key},
    )


def run_execution(*, execution_id: int) -> RunOutcome:
    """Run one step's side effect under a lease, then record its outcome.

    Safe to call any number of times for the same execution (queue redelivery, a sweeper
    retry after a worker died): a finished execution is left alone, a live lease is
    respected, and the executor always receives the same idempotency key.
    """
    with request_context.scope(execution=execution_id):
        execution = _claim(execution_id=execution_id, now=timezone.now())
        if execution is None:
            outcome = RunOutcome(execution_id, _status_of(execution_id))
            logger.info("execution.not_run", status=outcome.status)
            return outcome
        definition = registry.get(_instance_model(execution).workflow_name)
        step = definition.step_named(execution.step)
        assert isinstance(step, MachineStep)
        instance = execution.instance
        running_under = request_context.current_request_id()
        request_context.bind(
            # The id of the request that scheduled the step, whichever task runs it now (a
            # sweeper's retry, an operator's); that one is kept beside it when it differs.
            request_id=execution.request_id or None,
            run_by_request_id=(
                running_under
                if execution.request_id and running_under != execution.request_id
                else None
            ),
            workflow=definition.name,
            instance=instance.pk,
            correlation_key=instance.correlation_key,
            step=step.name,
            idempotency_key=execution.idempotency_key,
        )
        logger.info(
            "execution.started", attempt=execution.attempts, max_attempts=execution.max_attempts
        )
        labels = {"workflow": definition.name, "step": step.name}
        started = time.monotonic()
        if execution.attempts == 1:
            STEP_QUEUE_SECONDS.labels(**labels).observe(
                max((timezone.now() - execution.created_at).total_seconds(), 0.0)
            )
        try:
            result = step.executor(StepCall(instance=instance, execution=execution))
        except Exception as error:  # every failure is recorded; the kind decides retry or dead
            logger.warning(
                "execution %s failed: %s",
                execution.idempotency_key,
                error,
                error_kind=type(error).__name__,
                attempt=execution.attempts,
            )
            outcome = _record_failure(
                execution_id=execution_id,
                instance=instance,
                error=error,
                permanent=isinstance(error, PermanentError),
                labels=labels,
            )
        else:
            outcome = _record_success(
                execution=execution, instance=instance, step=step, result=result
            )
            if outcome.status == ExecutionStatus.SUCCEEDED:
                ATTEMPTS_PER_SUCCESS.labels(**labels).observe(execution.attempts)
        STEP_RUN_SECONDS.labels(**labels).observe(time.monotonic() - started)
        logger.info("execution.finished", status=outcome.status)
        return outcome


def _record_success(
    *,
    execution: Execution,
    instance: WorkflowInstance,
    step: MachineStep,
    result: dict[str, Any],
) -> RunOutcome:
    """`instance` names the instance only: the engine locks and reads it afresh, and the
    execution's `instance_version` decides whether the outcome still applies.

    One transaction: the execution marked succeeded (the UPDATE locks its row) and the
    transition. When the instance moved on meanwhile the engine refuses, having written
    nothing, and the whole transaction rolls back; the outcome is then recorded as ignored in
    a transaction of its own. So the common path needs no savepoint around the transition."""
    try:
        with transaction.atomic():
            if not _mark_succeeded(execution_id=execution.pk, result=result):
                return RunOutcome(execution.pk, _status_of(execution.pk))
            engine.transition(
                instance=instance,
                name=step.outcome_for(result).name,
                actor=SYSTEM,
                data={"step": step.name, "idempotency_key": execution.idempotency_key},
                context_update=step.context_update(result),
                expected_version=execution.instance_version,
                savepoint=False,
            )
    except (engine.StaleInstance, engine.IllegalTransition) as error:
        with transaction.atomic():
            if not _mark_succeeded(execution_id=execution.pk, result=result):
                return RunOutcome(execution.pk, _status_of(execution.pk))
            engine.record_step_event(
                instance=instance,
                type="execution.outcome_ignored",
                actor=SYSTEM,
                payload={"step": step.name, "reason": str(error)},
            )
    return RunOutcome(execution.pk, ExecutionStatus.SUCCEEDED)


def _mark_succeeded(*, execution_id: int, result: dict[str, Any]) -> bool:
    """Record the result on a running execution (the UPDATE takes its row lock until the
    commit); False when another run finished it after our lease expired: the key made the
    effect single."""
    now = timezone.now()
    return bool(
        Execution.objects.filter(pk=execution_id, status=ExecutionStatus.RUNNING).update(
            status=ExecutionStatus.SUCCEEDED,
            result=result,
            finished_at=now,
            lease_expires_at=None,
            last_error="",
            updated_at=now,
        )
    )


def _status_of(execution_id: int) -> str:
    current = Execution.objects.filter(pk=execution_id).values_list("status", flat=True)
    return current.first() or "missing"


def _record_failure(
    *,
    execution_id: int,
    instance: WorkflowInstance,
    error: Exception,
    permanent: bool,
    labels: dict[str, str],
) -> RunOutcome:
    now = timezone.now()
    # Remote error bodies end up here and in the (uneditable) log: scrubbed and bounded first.
    message = recordable(f"{type(error).__name__}: {error}")
    with transaction.atomic():
        execution = Execution.objects.select_for_update().get(pk=execution_id)
        if execution.status != ExecutionStatus.RUNNING:
            return RunOutcome(execution_id, execution.status)
        execution.last_error = message
        execution.lease_expires_at = None
        if permanent or execution.attempts >= execution.max_attempts:
            execution.status = ExecutionStatus.DEAD
            execution.finished_at = now
            event_type = "execution.dead"
            transaction.on_commit(DEAD_LETTERS.labels(**labels).inc)
        else:
            execution.status = ExecutionStatus.FAILED
            execution.next_attempt_at = now + retry_delay(attempt=execution.attempts)
            event_type = "execution.attempt_failed"
        execution.save()
        engine.record_step_event(
            instance=instance,
            type=event_type,
            actor=SYSTEM,
            payload={
                "step": execution.step,
                "idempotency_key": execution.idempotency_key,
                "attempt": execution.attempts,
                "error": message,
                "next_attempt_at": execution.next_attempt_at,
            },
        )
    return RunOutcome(execution_id, execution.status)


def retry_execution(*, execution: Execution, actor: Actor) -> Execution:
    """Give a dead (or waiting) execution a fresh set of attempts under the same key."""
    with transaction.atomic():
        locked = Execution.objects.select_for_update().get(pk=execution.pk)
        if locked.status not in (ExecutionStatus.DEAD, ExecutionStatus.FAILED):
            raise engine.WorkflowError(
                f"{locked} is {locked.get_status_display().lower()}; only dead or failed "
                "executions can be retried"
            )
        instance = _load_instance(locked)
        if instance.version != locked.instance_version:
            raise engine.WorkflowError(f"{instance} has moved on; {locked} no longer applies")
        locked.status = ExecutionStatus.PENDING
        locked.attempts = 0
        locked.next_attempt_at = None
        locked.finished_at = None
        locked.save()
        engine.record_step_event(
            instance=instance,
            type="execution.retried",
            actor=actor,
            payload={"step": locked.step, "idempotency_key": locked.idempotency_key},
        )
        engine.enqueue_execution(locked)
    return locked


# --- sweeper -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepReport:
    retries_enqueued: int
    leases_recovered: int
    timers_fired: int


def sweep_due_work(*, now: datetime | None = None, batch_size: int = 500) -> SweepReport:
    """Enqueue due retries, recover executions whose worker died, fire due timers.

    Idempotent and safe to run concurrently: rows are claimed with SKIP LOCKED and changed in
    the same transaction that enqueues them, so each is handled by exactly one sweep.
    """
    now = now or timezone.now()
    return SweepReport(
        retries_enqueued=_enqueue_due_retries(now=now, batch_size=batch_size),
        leases_recovered=_recover_expired_leases(now=now, batch_size=batch_size),
        timers_fired=_fire_due_timers(now=now, batch_size=batch_size),
    )


def _enqueue_due_retries(*, now: datetime, batch_size: int) -> int:
    with transaction.atomic():
        due = list(
            Execution.objects.select_for_update(skip_locked=True).filter(
                status=ExecutionStatus.FAILED, next_attempt_at__lte=now
            )[:batch_size]
        )
        for execution in due:
            execution.status = ExecutionStatus.PENDING
            execution.next_attempt_at = None
            execution.save(update_fields=["status", "next_attempt_at", "updated_at"])
            engine.enqueue_execution(execution)
    return len(due)


def _recover_expired_leases(*, now: datetime, batch_size: int) -> int:
    with transaction.atomic():
        expired = list(
            Execution.objects.select_for_update(skip_locked=True).filter(
                status=ExecutionStatus.RUNNING, lease_expires_at__lte=now
            )[:batch_size]
        )
        for execution in expired:
            # The attempt that died counts; the same key keeps its effect from doubling.
            execution.status = ExecutionStatus.PENDING
            execution.lease_expires_at = None
            execution.save(update_fields=["status", "lease_expires_at", "updated_at"])
            engine.enqueue_execution(execution)
        if expired:
            transaction.on_commit(lambda: LEASE_RECOVERIES.inc(len(expired)))
    return len(expired)


def _fire_due_timers(*, now: datetime, batch_size: int) -> int:
    fired = 0
    with transaction.atomic():
        due = list(
            Timer.objects.select_for_update(skip_locked=True)
            .select_related("instance_type")
            .filter(fired_at__isnull=True, due_at__lte=now)[:batch_size]
        )
        for timer in due:
            instance = timer.instance_type.model_class().objects.get(pk=timer.instance_id)
            try:
                # The transition binds its instance; the next timer's lines must not carry it.
                with request_context.scope(step=timer.step), transaction.atomic():
                    engine.transition(
                        instance=instance,
                        name=timer.transition,
                        actor=SYSTEM,
                        data={"timer": timer.step, "due_at": timer.due_at},
                        expected_version=timer.instance_version,
                    )
                timer.outcome = "fired"
                fired += 1
                lag = max((timezone.now() - timer.due_at).total_seconds(), 0.0)
                transaction.on_commit(lambda lag=lag: TIMER_LAG.observe(lag))
            except (engine.StaleInstance, engine.IllegalTransition):
                timer.outcome = "obsolete"
            timer.fired_at = now
            timer.save(update_fields=["fired_at", "outcome"])
    return fired
