"""What each alert kind looks at, and whether its condition holds now.

Each evaluator takes a rule and the evaluation time and returns a `Finding`: whether the
condition holds and what was seen (counts, ages, the worst offenders), JSON-ready. They read
only; opening and resolving alerts is `observability.alerts.services`' job.

What `threshold` and `window` mean per kind (defaults when left blank):

| kind | threshold | window |
|---|---|---|
| dead_letters | dead executions at least (1) | - |
| cluster_silent | - (bound: OPSCORE_READY_CLUSTER_MAX_AGE_SECONDS) | failing for (2 min) |
| sweeper_stale | - (bound: OPSCORE_READY_SWEEPER_MAX_AGE_SECONDS) | failing for (2 min) |
| sla_breach_rate | breached share of the tasks due in the window, over (0.2) | due within (24 h) |
| rejection_spike | refused requests in the window, at least (50) | last seen within (5 min) |
| auth_failure_storm | 401 refusals in the window, at least (20) | last seen within (5 min) |
| stuck_instances | stuck instances at least (1) | grace on each step's expected time (5 min) |
| audit_verify_failed | - | - |
| projection_check_failed | - | - |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db.models import Count, Exists, F, OuterRef, Q, Sum

from approvals.models import ACTIVE_STATUSES, ReviewTask, TaskStatus
from integrations.models import Rejection
from observability.models import AlertKind, AlertRule, CheckName, CheckRun
from opscore.health import CheckFailed, check_cluster, check_sweeper
from workflows import registry
from workflows.declaration import HumanStep, MachineStep, WaitStep, WorkflowDefinition
from workflows.models import Execution
from workflows.models.execution import ExecutionStatus

# How many offenders a finding names: enough to act on, small enough for an email.
SHOWN = 10
UNATTRIBUTED = "(unidentified caller)"

DEFAULT_THRESHOLDS = {
    AlertKind.DEAD_LETTERS: 1,
    AlertKind.SLA_BREACH_RATE: 0.2,
    AlertKind.REJECTION_SPIKE: 50,
    AlertKind.AUTH_FAILURE_STORM: 20,
    AlertKind.STUCK_INSTANCES: 1,
}
DEFAULT_WINDOWS = {
    AlertKind.CLUSTER_SILENT: timedelta(minutes=2),
    AlertKind.SWEEPER_STALE: timedelta(minutes=2),
    AlertKind.SLA_BREACH_RATE: timedelta(hours=24),
    AlertKind.REJECTION_SPIKE: timedelta(minutes=5),
    AlertKind.AUTH_FAILURE_STORM: timedelta(minutes=5),
    AlertKind.STUCK_INSTANCES: timedelta(minutes=5),
}


@dataclass(frozen=True)
class Finding:
    firing: bool
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_detail(self) -> dict[str, Any]:
        return {"summary": self.summary, **self.detail}


def threshold_of(rule: AlertRule) -> float:
    return rule.threshold if rule.threshold is not None else DEFAULT_THRESHOLDS[rule.kind]


def window_of(rule: AlertRule) -> timedelta:
    return rule.window if rule.window is not None else DEFAULT_WINDOWS[rule.kind]


def _definitions(rule: AlertRule) -> list[WorkflowDefinition]:
    return [registry.get(rule.workflow)] if rule.workflow else registry.all_definitions()


def dead_letters(rule: AlertRule, now: datetime) -> Finding:
    """Dead executions whose instance still waits on them (it is at the version that
    scheduled them); one an operator has since dealt with (cancelled, abandoned, retried to
    success) no longer counts, so the alert resolves when the last one is handled."""
    by_step: dict[str, int] = {}
    for definition in _definitions(rule):
        model = definition.model
        waiting = model.objects.filter(
            pk=OuterRef("instance_id"), version=OuterRef("instance_version")
        )
        rows = (
            Execution.objects.filter(
                status=ExecutionStatus.DEAD, instance_type=ContentType.objects.get_for_model(model)
            )
            .filter(Exists(waiting))
            .values("step")
            .annotate(count=Count("id"))
        )
        for row in rows:
            by_step[f"{definition.name}.{row['step']}"] = row["count"]
    total = sum(by_step.values())
    minimum = threshold_of(rule)
    return Finding(
        firing=total >= minimum,
        summary=f"{total} execution(s) in the dead letter (alert at {minimum:g})",
        detail={"dead": total, "by_step": by_step},
    )


def _failing_since_key(rule: AlertRule) -> str:
    return f"opscore:alerts:failing_since:{rule.pk}"


def _readiness(rule: AlertRule, now: datetime, check: Callable[[], str]) -> Finding:
    """The readiness check's verdict, held for the rule's window before it fires.

    A cluster restart, or the first sweep after a start, fails the check for a moment; the
    alert opens only once it has failed for the whole window. When it started failing is kept
    in the shared cache, so every evaluator (any cluster, the command) agrees.
    """
    key = _failing_since_key(rule)
    try:
        summary = check()
    except CheckFailed as failure:
        since = cache.get_or_set(key, now, timeout=None)
        held = now - since
        return Finding(
            firing=held >= window_of(rule),
            summary=str(failure),
            detail={"failing_since": since.isoformat()},
        )
    cache.delete(key)
    return Finding(firing=False, summary=summary)


def cluster_silent(rule: AlertRule, now: datetime) -> Finding:
    return _readiness(rule, now, check_cluster)


def sweeper_stale(rule: AlertRule, now: datetime) -> Finding:
    return _readiness(rule, now, check_sweeper)


def sla_breach_rate(rule: AlertRule, now: datetime) -> Finding:
    """Of the review tasks whose deadline fell in the window, the share not decided by it.

    A task decided after its due time, still open past it, or expired is a breach; a
    cancelled task is left out (nobody was asked to decide it any more).
    """
    tasks = ReviewTask.objects.filter(due_at__gt=now - window_of(rule), due_at__lte=now).exclude(
        status=TaskStatus.CANCELLED
    )
    if rule.queue_id:
        tasks = tasks.filter(queue_id=rule.queue_id)
    if rule.workflow:
        tasks = tasks.filter(workflow=rule.workflow)
    breached = (
        Q(decided_at__gt=F("due_at"))
        | Q(decided_at__isnull=True, status__in=ACTIVE_STATUSES)
        | Q(status=TaskStatus.EXPIRED)
    )
    rows = tasks.values("queue__name").annotate(
        due=Count("id"), breached=Count("id", filter=breached)
    )
    limit = threshold_of(rule)
    queues = {
        row["queue__name"]: {
            "due": row["due"],
            "breached": row["breached"],
            "rate": round(row["breached"] / row["due"], 4),
        }
        for row in rows
    }
    over = sorted(
        (name for name, seen in queues.items() if seen["rate"] > limit),
        key=lambda name: -queues[name]["rate"],
    )
    summary = (
        "SLA breach rate over {:.0%} in {}".format(limit, ", ".join(over[:SHOWN]))
        if over
        else f"no queue's SLA breach rate is over {limit:.0%}"
    )
    return Finding(firing=bool(over), summary=summary, detail={"queues": queues, "over": over})


def _rejections(rule: AlertRule, now: datetime, *, status: int | None) -> Finding:
    """Refused requests last seen in the window, per integration (an aggregated row of
    unauthenticated refusals counts every request it stands for)."""
    window = window_of(rule)
    # An aggregated row is counted whole when last seen in the window; it was opened at most
    # OPSCORE_REJECTION_WINDOW_SECONDS before its last request, which bounds the indexed
    # received_at, so the scan stays on the recent rows of a 30-day table.
    opened_since = now - window - timedelta(seconds=settings.OPSCORE_REJECTION_WINDOW_SECONDS)
    rejections = Rejection.objects.filter(
        last_seen_at__gt=now - window, received_at__gt=opened_since
    )
    if status is not None:
        rejections = rejections.filter(status=status)
    if rule.integration:
        rejections = rejections.filter(integration__name=rule.integration)
    per_integration = {
        (row["integration__name"] or UNATTRIBUTED): row["requests"]
        for row in rejections.values("integration__name").annotate(requests=Sum("count"))
    }
    minimum = threshold_of(rule)
    over = sorted(
        (name for name, requests in per_integration.items() if requests >= minimum),
        key=lambda name: -per_integration[name],
    )
    what = "401 refusal(s)" if status == 401 else "refused request(s)"
    summary = (
        "; ".join(f"{name}: {per_integration[name]} {what}" for name in over[:SHOWN])
        + f" in {window} (alert at {minimum:g})"
        if over
        else f"fewer than {minimum:g} {what} in {window} per integration"
    )
    return Finding(
        firing=bool(over),
        summary=summary,
        detail={
            "requests": per_integration,
            "over": over,
            "window_seconds": window.total_seconds(),
        },
    )


def rejection_spike(rule: AlertRule, now: datetime) -> Finding:
    return _rejections(rule, now, status=None)


def auth_failure_storm(rule: AlertRule, now: datetime) -> Finding:
    return _rejections(rule, now, status=401)


def expected_duration(step: MachineStep | HumanStep | WaitStep) -> timedelta:
    """How long an instance may sit in a step's state before it counts as stuck.

    - a human step: its SLA (past it the escalation path should have moved it);
    - a wait step: its timeout (past it the timer should have fired its timeout transition);
    - a machine step: every attempt's lease plus the longest backoff between attempts
      (`max_attempts x (OPSCORE_LEASE_SECONDS + OPSCORE_BACKOFF_MAX_SECONDS)`): past it the
      step has neither succeeded nor been dead-lettered, though each attempt would have.
    """
    if isinstance(step, HumanStep):
        return step.sla
    if isinstance(step, WaitStep):
        return step.timeout()
    config = settings.OPSCORE_EXECUTION
    per_attempt = config["LEASE_SECONDS"] + config["BACKOFF_MAX_SECONDS"]
    return timedelta(seconds=step.max_attempts * per_attempt)


def stuck_instances(rule: AlertRule, now: datetime) -> Finding:
    """Instances in a step's state with no transition for longer than the step's expected
    time plus the rule's window (grace). `updated_at` is the last transition: the engine is
    the only writer of an instance row. States without a step (terminal ones) never stick."""
    grace = window_of(rule)
    stuck: dict[str, dict[str, Any]] = {}
    total = 0
    for definition in _definitions(rule):
        for step in definition.steps:
            if step.state in definition.terminal_states:
                continue
            cutoff = now - expected_duration(step) - grace
            rows = definition.model.objects.filter(state=step.state, updated_at__lt=cutoff)
            count = rows.count()
            if not count:
                continue
            total += count
            oldest = list(
                rows.order_by("updated_at").values_list("correlation_key", flat=True)[:SHOWN]
            )
            stuck[f"{definition.name}.{step.name}"] = {"count": count, "oldest": oldest}
    minimum = threshold_of(rule)
    summary = (
        f"{total} instance(s) stuck: "
        + ", ".join(f"{name} {seen['count']}" for name, seen in stuck.items())
        if total
        else "no instance is past its step's expected time"
    )
    return Finding(firing=total >= minimum, summary=summary, detail={"stuck": stuck})


def _latest_check(name: str) -> Finding:
    latest = CheckRun.objects.filter(name=name).order_by("-finished_at").first()
    if latest is None:
        return Finding(firing=False, summary=f"{name} has not run yet")
    detail = {
        "check_run": latest.pk,
        "finished_at": latest.finished_at.isoformat(),
        **latest.detail,
    }
    if latest.ok:
        return Finding(
            firing=False, summary=f"{name} passed at {latest.finished_at}", detail=detail
        )
    reason = latest.detail.get("error", "see the check run")
    return Finding(
        firing=True, summary=f"{name} failed at {latest.finished_at}: {reason}", detail=detail
    )


def audit_verify_failed(rule: AlertRule, now: datetime) -> Finding:
    return _latest_check(CheckName.VERIFY_AUDIT)


def projection_check_failed(rule: AlertRule, now: datetime) -> Finding:
    return _latest_check(CheckName.PROJECTION_CHECK)


EVALUATORS: dict[str, Callable[[AlertRule, datetime], Finding]] = {
    AlertKind.DEAD_LETTERS: dead_letters,
    AlertKind.CLUSTER_SILENT: cluster_silent,
    AlertKind.SWEEPER_STALE: sweeper_stale,
    AlertKind.SLA_BREACH_RATE: sla_breach_rate,
    AlertKind.REJECTION_SPIKE: rejection_spike,
    AlertKind.AUTH_FAILURE_STORM: auth_failure_storm,
    AlertKind.STUCK_INSTANCES: stuck_instances,
    AlertKind.AUDIT_VERIFY_FAILED: audit_verify_failed,
    AlertKind.PROJECTION_CHECK_FAILED: projection_check_failed,
}


def evaluate(rule: AlertRule, *, now: datetime) -> Finding:
    return EVALUATORS[rule.kind](rule, now)
