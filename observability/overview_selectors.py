"""Reads of the admin start page: each block from a small, fixed number of grouped queries,
whatever the number of tasks, executions or events, and only what the viewer may see.

Blocks:
  queues     - people who work review tasks: their queues and the queues that escalate to
               their groups, with open, due within the hour, overdue and the oldest age
  operations - staff who may view executions or alerts: dead letters by step, open alerts,
               instances stuck in a machine step's state
  charts     - everyone: throughput (instances started, review decisions) and SLA (decisions,
               deadlines missed) per hour over 24 h and per day over 30 days, from the log
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db.models import Count, Min, Q
from django.db.models.functions import TruncDay, TruncHour
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import urlencode

from approvals.models import EscalationPolicy, ReviewTask
from approvals.permissions import WORK_PERMISSION
from approvals.selectors import (
    AWAITING_INFORMATION,
    group_ids_for,
    visible_tasks,
    visible_tasks_scope,
)
from audit.models import Event
from observability.models import Alert, AlertKind, AlertRule
from opscore.api_permissions import view_permission
from workflows import registry
from workflows.declaration import HumanStep, MachineStep
from workflows.models.execution import Execution, ExecutionStatus

DUE_SOON = timedelta(hours=1)
# How long an instance may sit in a machine step's state before the start page calls it
# stuck, when no enabled stuck_instances rule (its workflow's, else a global one) says.
DEFAULT_STUCK_AFTER = timedelta(minutes=30)

STARTED = "workflow.started"
DECIDED = ("task.approved", "task.rejected")
BREACHED = ("task.escalated", "task.expired")
CHARTED = (STARTED, *DECIDED, *BREACHED)
SETTLE = timedelta(minutes=2)


def _link(name: str, *args, query: dict | None = None) -> str | None:
    try:
        url = reverse(name, args=args)
    except NoReverseMatch:  # the page is not installed (yet): show the figure without a link
        return None
    return f"{url}?{urlencode(query)}" if query else url


def _admin_changelist(model, *, user, query: dict | None = None) -> str | None:
    """The model's admin list with `query`, only if the viewer may open it: no 403 links."""
    opts = model._meta
    if not user.has_perm(f"{opts.app_label}.view_{opts.model_name}"):
        return None
    return _link(f"admin:{opts.app_label}_{opts.model_name}_changelist", query=query)


# -- queues ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    queue: str
    workflow: str
    step: str
    open: int  # in the working queues: not waiting on the requester's answer
    with_requester: int  # asked for information, not answered yet (out of the queues)
    due_soon: int
    overdue: int
    oldest_opened_at: datetime | None
    url: str | None
    mine: bool  # a queue of the viewer's own groups (else one that escalates to them)

    @property
    def oldest_age(self) -> timedelta | None:
        return timezone.now() - self.oldest_opened_at if self.oldest_opened_at else None


@dataclass(frozen=True)
class QueuesBlock:
    rows: list[QueueRow]
    escalated_visible: int
    escalated_url: str | None
    overdue_visible: int
    overdue_url: str | None
    # Overdue in the rows but not among the tasks the viewer can open: in a queue that escalates
    # to them, not escalated to them (yet). The rows count them; the Overdue page cannot list them.
    overdue_not_escalated: int


def may_work_queues(user) -> bool:
    return user.is_active and user.is_staff and user.has_perm(WORK_PERMISSION)


def queues_block(*, user, now: datetime | None = None) -> QueuesBlock | None:
    """The viewer's queues and the queues whose escalation policy hands over to one of their
    groups (a supervisor's team), grouped by queue and step in one query. A row links to the
    viewer's team queue when it is theirs, else to the workflow's instances in the step's
    state when they may view them (the same items, seen as instances); else no link."""
    if not may_work_queues(user):
        return None
    now = now or timezone.now()
    own = set(group_ids_for(user=user))
    overseen = {
        (policy.workflow, policy.step)
        for policy in EscalationPolicy.objects.filter(escalate_to_id__in=own).only(
            "workflow", "step"
        )
    }
    steps = {}
    for definition in registry.all_definitions():
        for step in definition.steps:
            if isinstance(step, HumanStep):
                steps[(definition.name, step.name)] = (definition, step)
    scope = Q(queue_id__in=own)
    for workflow, step_name in sorted(overseen & set(steps)):
        # The step escalates to one of the viewer's groups: its tasks, whatever their queue.
        scope |= Q(workflow=workflow, step=step_name)
    grouped = (
        ReviewTask.objects.filter(scope, active=1)
        .values("queue_id", "queue__name", "workflow", "step")
        .annotate(
            # The queue link lists what is workable; a task asked about waits elsewhere.
            open=Count("id", filter=~AWAITING_INFORMATION),
            with_requester=Count("id", filter=AWAITING_INFORMATION),
            overdue=Count("id", filter=Q(due_at__lt=now)),
            due_soon=Count("id", filter=Q(due_at__gte=now, due_at__lt=now + DUE_SOON)),
            oldest=Min("opened_at"),
        )
        .order_by("queue__name", "workflow", "step")
    )
    openable = visible_tasks_scope(user=user)
    if openable:  # a superuser opens every task: nothing counted here is out of their sight
        grouped = grouped.annotate(
            overdue_not_openable=Count("id", filter=Q(due_at__lt=now) & ~openable)
        )
    rows = []
    overdue_not_escalated = 0
    for row in grouped:
        overdue_not_escalated += row.get("overdue_not_openable", 0)
        mine = row["queue_id"] in own
        if mine:
            url = _link(
                "admin:approvals_teamtask_changelist",
                query={"queue__id__exact": row["queue_id"], "step": row["step"]},
            )
        elif (row["workflow"], row["step"]) in steps:
            definition, step = steps[(row["workflow"], row["step"])]
            url = _admin_changelist(definition.model, user=user, query={"state__exact": step.state})
        else:
            url = None
        rows.append(
            QueueRow(
                queue=row["queue__name"],
                workflow=row["workflow"],
                step=row["step"],
                open=row["open"],
                with_requester=row["with_requester"],
                due_soon=row["due_soon"],
                overdue=row["overdue"],
                oldest_opened_at=row["oldest"],
                url=url,
                mine=mine,
            )
        )
    # The "Escalated" and "Overdue" pages' rows, counted in one pass over what the viewer sees.
    visible = (
        visible_tasks(user=user)
        .filter(active=1)
        .aggregate(
            escalated=Count("id", filter=Q(escalation_level__gt=0)),
            overdue=Count("id", filter=Q(due_at__lt=now)),
        )
    )
    return QueuesBlock(
        rows=rows,
        escalated_visible=visible["escalated"],
        escalated_url=_link("admin:approvals_escalatedtask_changelist"),
        overdue_visible=visible["overdue"],
        overdue_url=_link("admin:approvals_overduetask_changelist"),
        overdue_not_escalated=overdue_not_escalated,
    )


# -- operations --------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetterRow:
    workflow: str
    step: str
    count: int
    oldest: datetime | None
    url: str | None


@dataclass(frozen=True)
class StuckRow:
    workflow: str
    state: str
    count: int
    oldest: datetime | None
    stuck_after: timedelta
    url: str | None


@dataclass(frozen=True)
class AlertRow:
    name: str
    kind: str
    opened_at: datetime
    acknowledged: bool
    url: str | None


@dataclass
class OperationsBlock:
    dead_letters: list[DeadLetterRow] | None = None
    alerts: list[AlertRow] | None = None
    alerts_more: int = 0
    stuck: list[StuckRow] | None = None
    system_map_url: str | None = None


OPEN_ALERTS_SHOWN = 10


def may_see_operations(user) -> bool:
    return (
        user.is_active
        and user.is_staff
        and (user.has_perm("workflows.view_execution") or user.has_perm("observability.view_alert"))
    )


def _workflow_by_content_type() -> dict[int, str]:
    models = {definition.model: definition.name for definition in registry.all_definitions()}
    types = ContentType.objects.get_for_models(*models)  # cached after the first request
    return {types[model].pk: name for model, name in models.items()}


def dead_letter_rows(*, user) -> list[DeadLetterRow]:
    names = _workflow_by_content_type()
    grouped = (
        Execution.objects.filter(status=ExecutionStatus.DEAD)
        .values("instance_type_id", "step")
        .annotate(count=Count("id"), oldest=Min("updated_at"))
        .order_by("-count", "step")
    )
    return [
        DeadLetterRow(
            workflow=names.get(row["instance_type_id"], "?"),
            step=row["step"],
            count=row["count"],
            oldest=row["oldest"],
            url=_admin_changelist(
                Execution, user=user, query={"status__exact": "dead", "step__exact": row["step"]}
            ),
        )
        for row in grouped
    ]


def open_alert_rows(*, user) -> tuple[list[AlertRow], int]:
    """The newest open alerts (at most OPEN_ALERTS_SHOWN) and how many more are open."""
    open_alerts = Alert.objects.filter(resolved_at__isnull=True)
    alerts = list(open_alerts.select_related("rule").order_by("-opened_at")[:OPEN_ALERTS_SHOWN])
    rows = [
        AlertRow(
            name=alert.rule.name,
            kind=alert.rule.get_kind_display(),
            opened_at=alert.opened_at,
            acknowledged=alert.acknowledged_at is not None,
            url=(
                _link("admin:observability_alert_change", alert.pk)
                if user.has_perm("observability.view_alert")
                else None
            ),
        )
        for alert in alerts
    ]
    # Counted every time, not only when the list is full: the page's query count stays fixed.
    return rows, open_alerts.count() - len(rows)


def stuck_after_by_workflow() -> dict[str, timedelta]:
    """Each workflow's threshold: its own enabled stuck_instances rule's window, else a global
    one's, else DEFAULT_STUCK_AFTER."""
    windows = dict(
        AlertRule.objects.filter(
            kind=AlertKind.STUCK_INSTANCES, enabled=True, window__isnull=False
        ).values_list("workflow", "window")
    )
    fallback = windows.get("", DEFAULT_STUCK_AFTER)
    return {
        definition.name: windows.get(definition.name, fallback)
        for definition in registry.all_definitions()
    }


def stuck_rows(*, user, now: datetime | None = None) -> list[StuckRow]:
    """Instances in a machine step's state with no transition for longer than the threshold:
    one grouped query per registered workflow (their number, not the data, sets the count)."""
    now = now or timezone.now()
    thresholds = stuck_after_by_workflow()
    rows = []
    for definition in registry.all_definitions():
        states = [step.state for step in definition.steps if isinstance(step, MachineStep)]
        if not states:
            continue
        cutoff = now - thresholds[definition.name]
        grouped = (
            definition.model.objects.filter(state__in=states, updated_at__lt=cutoff)
            .values("state")
            .annotate(count=Count("pk"), oldest=Min("updated_at"))
            .order_by("state")
        )
        for row in grouped:
            rows.append(
                StuckRow(
                    workflow=definition.name,
                    state=row["state"],
                    count=row["count"],
                    oldest=row["oldest"],
                    stuck_after=thresholds[definition.name],
                    url=_admin_changelist(
                        definition.model,
                        user=user,
                        query={
                            "state__exact": row["state"],
                            "updated_at__lt": cutoff.isoformat(),
                        },
                    ),
                )
            )
    return rows


def operations_block(*, user, now: datetime | None = None) -> OperationsBlock | None:
    if not may_see_operations(user):
        return None
    block = OperationsBlock()
    if user.has_perm("workflows.view_execution"):
        block.dead_letters = dead_letter_rows(user=user)
        block.stuck = [
            row
            for row in stuck_rows(user=user, now=now)
            if user.has_perm(view_permission(registry.get(row.workflow).model))
        ]
    if user.has_perm("observability.view_alert"):
        block.alerts, block.alerts_more = open_alert_rows(user=user)
    block.system_map_url = system_map_url(user=user)
    return block


def system_map_url(*, user) -> str | None:
    return (
        _link("observability_system_map") if user.has_perm("observability.view_alertrule") else None
    )


# -- charts ------------------------------------------------------------------------------


@dataclass
class Series:
    name: str
    values: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Chart:
    title: str
    buckets: list[datetime]
    series: list[Series]
    bucket_format: str


def _bucket_counts(*, since: datetime, until: datetime | None, trunc) -> list[dict]:
    """Counts of the charted event types per (type, bucket), in one grouped query over the
    (type, occurred_at) index; COUNT(*) so PostgreSQL answers from the index alone."""
    events = Event.objects.filter(type__in=CHARTED, occurred_at__gte=since)
    if until is not None:
        events = events.filter(occurred_at__lt=until)
    return list(
        events.annotate(bucket=trunc("occurred_at"))
        .values("type", "bucket")
        .annotate(count=Count("*"))
        .order_by()
    )


def _window_counts(
    *, since: datetime, buckets: int, step: timedelta, trunc
) -> tuple[list[datetime], dict[str, list[int]]]:
    """Counts per charted type and bucket. The log is append-only and stamped as it is
    written, so a bucket that has ended never changes: the ended ones are cached (in the shared
    cache, keyed by the window) and only the current bucket is read each time. One cache read
    and one small query per chart; the whole window is read once per bucket length."""
    starts = [since + step * index for index in range(buckets)]
    index = {start: position for position, start in enumerate(starts)}
    current = starts[-1]
    key = f"opscore:overview:{trunc.kind}:{since.isoformat()}:{current.isoformat()}"
    ended = cache.get(key)
    if ended is None:
        ended = _bucket_counts(since=since, until=current, trunc=trunc)
        # An event is stamped when appended and visible at commit: a transaction still open
        # across the boundary could add to the bucket that just ended, so wait a little.
        if timezone.now() - current > SETTLE:
            cache.set(key, ended, timeout=int(step.total_seconds()) + 60)
    counts = {name: [0] * buckets for name in CHARTED}
    for row in [*ended, *_bucket_counts(since=current, until=None, trunc=trunc)]:
        bucket = row["bucket"]
        if timezone.is_naive(bucket):
            bucket = timezone.make_aware(bucket)
        position = index.get(bucket)
        if position is not None:
            counts[row["type"]][position] += row["count"]
    return starts, counts


def _charts_for(*, since, buckets, step, trunc, label, fmt) -> tuple[Chart, Chart]:
    starts, counts = _window_counts(since=since, buckets=buckets, step=step, trunc=trunc)
    decided = [sum(values) for values in zip(*(counts[t] for t in DECIDED), strict=True)]
    breached = [sum(values) for values in zip(*(counts[t] for t in BREACHED), strict=True)]
    throughput = Chart(
        title=f"Throughput, {label}",
        buckets=starts,
        series=[Series("instances started", counts[STARTED]), Series("review decisions", decided)],
        bucket_format=fmt,
    )
    sla = Chart(
        title=f"SLA, {label}",
        buckets=starts,
        series=[Series("review decisions", decided), Series("deadlines missed", breached)],
        bucket_format=fmt,
    )
    return throughput, sla


def overview_charts(*, now: datetime | None = None) -> list[Chart]:
    """Throughput and SLA over the last 24 hours (hourly) and 30 days (daily). Deadlines missed
    are escalations and expiries recorded in the bucket (a task escalates when its SLA ends)."""
    now = now or timezone.now()
    hour = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    day = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    hourly = _charts_for(
        since=hour - timedelta(hours=23),
        buckets=24,
        step=timedelta(hours=1),
        trunc=TruncHour,
        label="last 24 hours",
        fmt="%H:00",
    )
    daily = _charts_for(
        since=day - timedelta(days=29),
        buckets=30,
        step=timedelta(days=1),
        trunc=TruncDay,
        label="last 30 days",
        fmt="%d %b",
    )
    return [hourly[0], hourly[1], daily[0], daily[1]]
