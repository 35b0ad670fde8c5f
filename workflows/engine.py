"""The one way workflow state changes, and the only writer of workflow events.

Every change runs in one transaction: lock the instance row, check the django-fsm
transition, append the event, apply and save, then schedule the next step (execution rows
and their queue entries, timers, human tasks) in that same transaction. Nothing runs unless
the change committed; nothing commits without its event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone
from django_fsm import can_proceed, has_transition_perm
from django_q.brokers import get_broker
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.signals import pre_enqueue
from django_q.signing import SignedPackage
from django_q.tasks import async_task
from simple_history.utils import get_change_reason_from_object

from audit.models import Event
from audit.services import append_event
from opscore import request_context
from opscore.actors import SYSTEM, Actor
from opscore.bulk_insert import insert_rows, insert_with_follower
from opscore.metrics import TRANSITIONS
from workflows import registry
from workflows.declaration import (
    FiredBy,
    HumanStep,
    MachineStep,
    Verdict,
    WaitStep,
    WorkflowDefinition,
)
from workflows.models import Execution, Timer, WorkflowInstance
from workflows.models.execution import ExecutionStatus

RUN_EXECUTION_JOB = "workflows.jobs.run_execution"
# A step's outcome is its Execution row (and its events), so django-q2 keeps no result row
# for a run that returned: saving one cost the cluster's single monitor process more than
# the step itself (it prunes its result table on every save). Failed runs are still kept.
RUN_EXECUTION_OPTIONS = {"save": False}

logger = structlog.stdlib.get_logger(__name__)


class WorkflowError(Exception):
    """Base for refusals by the engine; the message is fit to show to an operator."""


class UnknownTransition(WorkflowError):
    pass


class IllegalTransition(WorkflowError):
    def __init__(self, instance: WorkflowInstance, name: str) -> None:
        self.instance = instance
        self.transition = name
        self.state = str(instance.state)
        super().__init__(
            f"{instance} cannot {name!r} from state '{self.state}' "
            f"(allowed: {', '.join(available_transitions(instance)) or 'none'})"
        )


class TransitionNotPermitted(WorkflowError):
    pass


class StaleInstance(WorkflowError):
    """The instance moved on since the caller looked (its version changed)."""


class DuplicateCorrelationKey(WorkflowError):
    pass


def available_transitions(instance: WorkflowInstance) -> list[str]:
    return sorted(t.name for t in instance.get_available_state_transitions())


def start_instance(
    *,
    definition: WorkflowDefinition,
    correlation_key: str,
    context: dict[str, Any],
    actor: Actor,
    savepoint: bool = True,
) -> WorkflowInstance:
    """Create an instance in its initial state, record it, and schedule its first step.

    Called inside a transaction, the work is a savepoint of it by default, so a refusal
    (`DuplicateCorrelationKey`) leaves the caller's transaction usable. A caller that abandons
    its whole transaction on any refusal (ingestion) passes `savepoint=False`: no savepoints,
    four statements fewer, and a refusal marks the caller's transaction for rollback.

    The rows are the ones `start_instances` writes for one instance (the instance and its
    history row inserted as `save()` would write them, a first machine step's execution and
    queue row), without the ORM's save machinery: that was a third of an ingestion's CPU.
    """
    instance = _new_instance(
        definition=definition, start=InstanceStart(correlation_key, context), actor=actor
    )
    with transaction.atomic(savepoint=savepoint):
        try:
            with transaction.atomic(savepoint=savepoint):
                # One statement on PostgreSQL; a clash refuses both rows.
                insert_with_follower(
                    instance,
                    follower=_creation_history,
                    key_attnames=_history_keys(definition.model),
                )
        except IntegrityError as error:
            raise DuplicateCorrelationKey(
                f"a {definition.name} with correlation key {correlation_key!r} already exists"
            ) from error
        _bind_instance(definition=definition, instance=instance)
        _record_started(definition=definition, instance=instance, actor=actor)
        _enter_state(definition=definition, instance=instance, actor=actor)
    return instance


@dataclass(frozen=True)
class InstanceStart:
    """One instance for `start_instances` to start: its key and its initial context."""

    correlation_key: str
    context: dict[str, Any]


def start_instances(
    *,
    definition: WorkflowDefinition,
    starts: list[InstanceStart],
    actor: Actor,
    savepoint: bool = True,
) -> list[WorkflowInstance]:
    """Start many instances of one workflow at once, each as `start_instance` would.

    The same rows, history rows, events (in the same order for each instance) and queued
    steps as that many `start_instance` calls, in a handful of statements whatever their
    number: one INSERT for the instances, one for their history rows and, when the initial
    state is a machine step, one for the executions and one for their queue rows. (Another
    initial step is entered instance by instance.) A correlation key already taken, or given
    twice, refuses them all with `DuplicateCorrelationKey`, having written nothing: callers
    that must tell which one check the keys first. `savepoint` as in `start_instance`.
    """
    if not starts:
        return []
    instances = [_new_instance(definition=definition, start=start, actor=actor) for start in starts]
    with transaction.atomic(savepoint=savepoint):
        try:
            with transaction.atomic(savepoint=savepoint):
                insert_rows(instances)
        except IntegrityError as error:
            raise DuplicateCorrelationKey(
                f"a {definition.name} with one of the correlation keys "
                f"{', '.join(repr(start.correlation_key) for start in starts[:5])} "
                "already exists"
            ) from error
        insert_rows([_creation_history(instance) for instance in instances])
        # Every instance starts in the same state, hence at the same step.
        step = definition.step_for_state(instances[0].state)
        executions = (
            _create_executions(definition=definition, instances=instances, step=step)
            if isinstance(step, MachineStep)
            else None
        )
        for index, instance in enumerate(instances):
            with request_context.scope():
                _bind_instance(definition=definition, instance=instance)
                _record_started(definition=definition, instance=instance, actor=actor)
                if executions is None:
                    _enter_state(definition=definition, instance=instance, actor=actor)
                    continue
                _record_scheduled(
                    instance=instance, execution=executions[index], step=step, actor=actor
                )
        if executions:
            enqueue_executions(executions)
    return instances


def _new_instance(
    *, definition: WorkflowDefinition, start: InstanceStart, actor: Actor
) -> WorkflowInstance:
    """An unsaved instance in its initial state, started by `actor`."""
    instance = definition.model(
        correlation_key=start.correlation_key,
        context=start.context,
        definition_version=definition.version,
    )
    if actor.user is not None:
        instance.started_by = actor.user
        instance._history_user = actor.user
    return instance


def _record_started(
    *, definition: WorkflowDefinition, instance: WorkflowInstance, actor: Actor
) -> None:
    append_event(
        type="workflow.started",
        instance=instance,
        actor=actor,
        payload={
            "workflow": definition.name,
            "correlation_key": instance.correlation_key,
            "state": instance.state,
            "version": instance.version,
            "definition_version": definition.version,
            "context": instance.context,
        },
    )
    logger.info("workflow.started", state=instance.state, actor=str(actor))


def _bind_instance(*, definition: WorkflowDefinition, instance: WorkflowInstance) -> None:
    """From here on the unit of work's log lines name the instance it moved."""
    request_context.bind(
        workflow=definition.name, instance=instance.pk, correlation_key=instance.correlation_key
    )


def transition(
    *,
    instance: WorkflowInstance,
    name: str,
    actor: Actor,
    data: dict[str, Any] | None = None,
    context_update: dict[str, Any] | None = None,
    expected_version: int | None = None,
    verdict: Verdict | None = None,
    savepoint: bool = True,
) -> WorkflowInstance:
    """Apply transition `name` to `instance` and return the fresh, saved instance.

    Raises a WorkflowError subclass, having written nothing, when the transition is unknown,
    not allowed from the current state, not permitted to the actor (see `_authorize`), or
    when the instance is no longer at `expected_version`. `savepoint` as in
    `start_instance`: a caller that abandons its whole transaction on a refusal passes False
    (two statements fewer), and a refusal then marks the caller's transaction for rollback.
    """
    definition = registry.for_model(type(instance))
    with transaction.atomic(savepoint=savepoint):
        locked = type(instance).objects.select_for_update().get(pk=instance.pk)
        _bind_instance(definition=definition, instance=locked)
        method = getattr(locked, name, None)
        if method is None or not hasattr(method, "_django_fsm"):
            raise UnknownTransition(f"{definition.name} has no transition {name!r}")
        if expected_version is not None and locked.version != expected_version:
            raise StaleInstance(
                f"{locked} is at version {locked.version}, not {expected_version}: "
                "it moved on before this change"
            )
        if not can_proceed(method):
            raise IllegalTransition(locked, name)
        _authorize(
            definition=definition,
            instance=locked,
            name=name,
            method=method,
            actor=actor,
            verdict=verdict,
        )
        source = locked.state
        target = method._django_fsm.get_transition(source).target
        merged_context = {**locked.context, **(context_update or {})}
        append_event(
            type="workflow.transition",
            instance=locked,
            actor=actor,
            payload={
                "workflow": definition.name,
                "transition": name,
                "source": source,
                "target": target,
                "version": locked.version + 1,
                "data": data or {},
                "context_update": context_update or {},
            },
        )
        method()
        locked.version += 1
        locked.context = merged_context
        if actor.user is not None:
            locked._history_user = actor.user
        locked.save()
        logger.info(
            "workflow.transition",
            transition=name,
            source=source,
            target=target,
            version=locked.version,
            actor=str(actor),
        )
        _leave_state(definition=definition, instance=locked, state=source, transition=name)
        # Counted once the change commits: a rolled-back transition did not happen.
        transaction.on_commit(TRANSITIONS.labels(workflow=definition.name, transition=name).inc)
        _enter_state(definition=definition, instance=locked, actor=actor)
    return locked


def move_instance(*, instance: WorkflowInstance, actor: Actor = SYSTEM) -> WorkflowInstance:
    """Move an instance out of a state its workflow's current version removed or gave a new
    step, to where the declaration's `moves` says, and onto the current version.

    Like `transition`, in one transaction: lock, record (a `workflow.transition` event named
    `move:v<N>`, so the log still rebuilds the instance), apply. The old step's work stops:
    executions not yet run are skipped, timers made obsolete, review tasks closed; the new
    state's step starts as on any arrival.
    """
    definition = registry.for_model(type(instance))
    model = type(instance)
    with transaction.atomic():
        locked = model.objects.select_for_update().get(pk=instance.pk)
        _bind_instance(definition=definition, instance=locked)
        source = str(locked.state)
        target = definition.moves.get(source)
        if locked.definition_version >= definition.version:
            raise StaleInstance(f"{locked} is on v{locked.definition_version} already")
        if target is None:
            raise UnknownTransition(
                f"{definition.name} v{definition.version} declares no move from {source!r}"
            )
        name = f"move:v{definition.version}"
        version = locked.version + 1
        append_event(
            type="workflow.transition",
            instance=locked,
            actor=actor,
            payload={
                "workflow": definition.name,
                "transition": name,
                "source": source,
                "target": str(target),
                "version": version,
                "data": {"definition_version": definition.version},
                "context_update": {},
            },
        )
        pinned = {
            "instance_type": ContentType.objects.get_for_model(locked),
            "instance_id": locked.pk,
        }
        Execution.objects.filter(
            **pinned, status__in=[ExecutionStatus.PENDING, ExecutionStatus.FAILED]
        ).update(status=ExecutionStatus.SKIPPED, next_attempt_at=None)
        Timer.objects.filter(**pinned, fired_at__isnull=True).update(
            fired_at=timezone.now(), outcome="obsolete"
        )
        # The protected state field is set by the row update: a move is not a declared edge.
        model.objects.filter(pk=locked.pk).update(
            state=str(target), version=version, definition_version=definition.version
        )
        moved = model.objects.get(pk=locked.pk)
        review = next(
            (s.hooks for s in definition.steps if isinstance(s, HumanStep) and s.hooks), None
        )
        if review is not None:  # closes whatever review task the old step left open
            review.on_exit(moved, name)
        logger.info("workflow.moved", source=source, target=str(target), version=version)
        _enter_state(definition=definition, instance=moved, actor=actor)
    return moved


def _authorize(
    *,
    definition: WorkflowDefinition,
    instance: WorkflowInstance,
    name: str,
    method: Any,
    actor: Actor,
    verdict: Verdict | None,
) -> None:
    """The one rule of who may fire what, whatever the call site.

    - A human step's decisions (every approve/reject transition it declares) only with a
      `Verdict` the step's approvals hook confirms; and a `Verdict` moves nothing else.
    - The engine itself (`SYSTEM`: machine-step outcomes, timers, expiries) fires the rest.
    - People fire transitions that declare a permission they hold, and declared signals.
    - Anyone else (an integration, a webhook source, a schedule) fires only the signal of the
      wait step the instance is in.
    """
    step = definition.step_for_state(instance.state)
    edge = definition.edge_named(name)
    refused = f"{actor} may not {name!r} {instance}"
    if name in definition.verdicts() or verdict is not None:
        if not (
            isinstance(verdict, Verdict)
            and isinstance(step, HumanStep)
            and verdict.step == step.name
            and name in step.verdicts
            and step.confirm_verdict is not None
            and step.confirm_verdict(instance, name, verdict)
        ):
            raise TransitionNotPermitted(
                f"{refused}: a human step's decision is taken only by deciding its task"
            )
        if actor.user is not None and not has_transition_perm(method, actor.user):
            raise TransitionNotPermitted(refused)
        return
    if actor == SYSTEM:
        return
    is_signal = (
        isinstance(step, WaitStep)
        and edge is not None
        and edge.fired_by == FiredBy.SIGNAL
        and edge.step is step
    )
    if actor.user is not None:
        declares_permission = edge is not None and bool(edge.permission)
        if not (is_signal or declares_permission) or not has_transition_perm(method, actor.user):
            raise TransitionNotPermitted(refused)
        return
    if not is_signal:
        raise TransitionNotPermitted(
            f"{refused}: outside callers may only signal the wait step an instance is in"
        )


def record_step_event(
    *,
    instance: WorkflowInstance,
    type: str,
    actor: Actor,
    payload: dict[str, Any],
) -> Event:
    """Record something that happened to a step without changing state (an attempt, a retry,
    a review task claimed or escalated)."""
    return append_event(type=type, instance=instance, actor=actor, payload=payload)


def execution_key(*, definition: WorkflowDefinition, instance: WorkflowInstance, step: str) -> str:
    return f"{definition.name}:{instance.pk}:{step}:v{instance.version}"


def _leave_state(
    *, definition: WorkflowDefinition, instance: WorkflowInstance, state: str, transition: str
) -> None:
    step = definition.step_for_state(state)
    if isinstance(step, HumanStep) and step.on_exit is not None and instance.state != state:
        step.on_exit(instance, transition)


def _enter_state(
    *, definition: WorkflowDefinition, instance: WorkflowInstance, actor: Actor
) -> None:
    step = definition.step_for_state(instance.state)
    if isinstance(step, MachineStep):
        _schedule_execution(definition=definition, instance=instance, step=step, actor=actor)
    elif isinstance(step, WaitStep):
        _arm_timer(instance=instance, step=step, actor=actor, timeout=step.timeout())
    elif isinstance(step, HumanStep) and step.on_enter is not None:
        step.on_enter(instance)


def _schedule_execution(
    *, definition: WorkflowDefinition, instance: WorkflowInstance, step: MachineStep, actor: Actor
) -> Execution:
    """The step's execution row, its `execution.scheduled` event and its queue row, written
    as `start_instances` writes them for many (one INSERT each, no ORM save, no async_task)."""
    (execution,) = _create_executions(definition=definition, instances=[instance], step=step)
    _record_scheduled(instance=instance, execution=execution, step=step, actor=actor)
    enqueue_executions([execution])
    return execution


def _record_scheduled(
    *, instance: WorkflowInstance, execution: Execution, step: MachineStep, actor: Actor
) -> None:
    append_event(
        type="execution.scheduled",
        instance=instance,
        actor=actor,
        payload={"step": step.name, "idempotency_key": execution.idempotency_key},
    )
    logger.info(
        "execution.scheduled",
        step=step.name,
        execution=execution.pk,
        idempotency_key=execution.idempotency_key,
    )


def _creation_history(instance: WorkflowInstance) -> Model:
    """The history row `instance.save()` writes for a new instance (simple-history's
    `create_historical_record`, whose `post_save` a bulk insert does not trigger)."""
    history = type(instance).history.model
    row = history(
        history_date=getattr(instance, "_history_date", timezone.now()),
        history_type="+",
        history_user=history.get_default_history_user(instance),
        history_change_reason=get_change_reason_from_object(instance),
        **{field.attname: getattr(instance, field.attname) for field in history.tracked_fields},
    )
    if hasattr(history, "history_relation"):
        row.history_relation_id = instance.pk
    return row


def _history_keys(model: type[WorkflowInstance]) -> list[str]:
    """The fields of `model`'s history rows that repeat the instance's primary key."""
    history = model.history.model
    keys = [model._meta.pk.attname]
    if hasattr(history, "history_relation"):
        keys.append("history_relation_id")
    return keys


def _create_executions(
    *, definition: WorkflowDefinition, instances: list[WorkflowInstance], step: MachineStep
) -> list[Execution]:
    """Each instance's execution of `step`, for all of them in one INSERT."""
    instance_type = ContentType.objects.get_for_model(instances[0])
    # Retries and lease recoveries are enqueued by the sweeper, in another unit of work:
    # the row keeps the id of the one that scheduled the step, for all of its attempts.
    request_id = request_context.current_request_id() or ""
    executions = [
        Execution(
            instance_type=instance_type,
            instance_id=instance.pk,
            instance_version=instance.version,
            step=step.name,
            idempotency_key=execution_key(definition=definition, instance=instance, step=step.name),
            max_attempts=step.max_attempts,
            request_id=request_id,
        )
        for instance in instances
    ]
    insert_rows(executions)
    return executions


def enqueue_execution(execution: Execution) -> None:
    """Queue a run; with the ORM broker the queue row joins the caller's transaction."""
    async_task(
        RUN_EXECUTION_JOB,
        execution.pk,
        task_name=execution.idempotency_key[:100],
        **RUN_EXECUTION_OPTIONS,
    )


# The task options async_task reads from its keyword arguments, in the order it reads them.
_TASK_OPTIONS = (
    "hook",
    "group",
    "save",
    "sync",
    "cached",
    "ack_failure",
    "iter_count",
    "iter_cached",
    "chain",
    "broker",
    "cluster",
    "timeout",
)


def enqueue_executions(executions: list[Execution]) -> None:
    """Queue many runs with one INSERT: each queue row the one `enqueue_execution` writes.

    django-q2 has no bulk enqueue, so the signed package is built here as `async_task` builds
    it (same task dict, same `pre_enqueue` signal, same signing) and the ORM broker's rows
    (or its subclass's, `opscore.queue_broker`, while it enqueues as the ORM broker does) are
    inserted together. Any other broker, or synchronous mode, queues one by one.
    """
    broker = get_broker()
    writes_queue_rows = isinstance(broker, ORM) and type(broker).enqueue is ORM.enqueue
    if Conf.SYNC or not writes_queue_rows:
        for execution in executions:
            enqueue_execution(execution)
        return
    rows = [
        OrmQ(
            key=broker.list_key or Conf.CLUSTER_NAME,
            payload=_task_package(
                RUN_EXECUTION_JOB,
                execution.pk,
                task_name=execution.idempotency_key[:100],
                **RUN_EXECUTION_OPTIONS,
            ),
            lock=timezone.now(),
        )
        for execution in executions
    ]
    insert_rows(rows)


def _task_package(func: str, *args: Any, task_name: str, **options: Any) -> str:
    """The signed package `async_task(func, *args, task_name=..., **options)` enqueues."""
    task: dict[str, Any] = {"id": uuid.uuid4().hex, "name": task_name, "func": func, "args": args}
    for key in _TASK_OPTIONS:
        if key in options:
            task[key] = options.pop(key)
    if "cached" not in task and Conf.CACHED:
        task["cached"] = Conf.CACHED
    if "sync" not in task and Conf.SYNC:
        task["sync"] = Conf.SYNC
    if "ack_failure" not in task and Conf.ACK_FAILURES:
        task["ack_failure"] = Conf.ACK_FAILURES
    task["kwargs"] = options
    task["started"] = timezone.now()
    pre_enqueue.send(sender="django_q", task=task)
    return SignedPackage.dumps(task)


def _arm_timer(
    *, instance: WorkflowInstance, step: WaitStep, actor: Actor, timeout: timedelta
) -> Timer:
    timer = Timer.objects.create(
        instance_type=ContentType.objects.get_for_model(instance),
        instance_id=instance.pk,
        instance_version=instance.version,
        step=step.name,
        transition=step.on_timeout,
        due_at=timezone.now() + timeout,
    )
    append_event(
        type="timer.armed",
        instance=instance,
        actor=actor,
        payload={"step": step.name, "due_at": timer.due_at, "on_timeout": step.on_timeout},
    )
    return timer
