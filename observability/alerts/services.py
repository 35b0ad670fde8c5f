"""The alert lifecycle: open once, hold while the condition holds, resolve, acknowledge.

Each step is recorded in the log (`audit.services.record_alert_event`) and owes its notices
(`observability.alerts.delivery`) in the same transaction. Two evaluators running at once
serialise on the rule's row lock, and the database keeps one open alert per rule
(`one_open_alert_per_rule`) whatever happens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import record_alert_event
from observability.alerts.delivery import DeliveryReport, deliver_due, owe_notices
from observability.alerts.evaluation import Finding, evaluate
from observability.models import Alert, AlertRule, AlertTransition
from opscore.actors import SYSTEM, Actor

ACKNOWLEDGE_PERMISSION = "observability.acknowledge_alert"

logger = logging.getLogger(__name__)


class AlertError(Exception):
    """A refused alert operation; the message is fit to show to the person."""


@dataclass
class EvaluationReport:
    opened: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    def __str__(self) -> str:
        return (
            f"opened {len(self.opened)}, held {len(self.held)}, resolved {len(self.resolved)}, "
            f"failed {len(self.failed)}; notices sent {self.delivery.sent}, "
            f"failed {self.delivery.failed}"
        )


def _record(alert: Alert, *, action: str, actor: Actor = SYSTEM) -> None:
    record_alert_event(
        actor=actor,
        action=action,
        alert=alert,
        rule=alert.rule.name,
        kind=alert.rule.kind,
        detail=alert.detail,
    )


def _open(rule: AlertRule, *, finding: Finding, now: datetime) -> Alert | None:
    try:
        with transaction.atomic():
            alert = Alert.objects.create(rule=rule, opened_at=now, detail=finding.as_detail())
    except IntegrityError:
        return None  # another evaluator opened it first: the constraint keeps one
    _record(alert, action=AlertTransition.OPENED)
    owe_notices(alert=alert, transition=AlertTransition.OPENED, at=now)
    return alert


def _resolve(alert: Alert, *, detail: dict, now: datetime) -> None:
    alert.resolved_at = now
    alert.detail = detail
    alert.save(update_fields=["resolved_at", "detail"])
    _record(alert, action=AlertTransition.RESOLVED)
    owe_notices(alert=alert, transition=AlertTransition.RESOLVED, at=now)


def apply_finding(*, rule: AlertRule, finding: Finding, now: datetime) -> str:
    """Open, hold or resolve `rule`'s alert for what was found; returns which happened.

    One transaction under the rule's row lock: of two evaluators the second sees the first's
    alert. While the condition holds the open alert's detail follows what is seen; nothing is
    sent again.
    """
    with transaction.atomic():
        rule = (
            AlertRule.objects.select_for_update(of=("self",))
            .select_related("notify_group", "queue")
            .get(pk=rule.pk)
        )
        alert = Alert.objects.filter(rule=rule, resolved_at__isnull=True).first()
        detail = finding.as_detail()
        if finding.firing and rule.enabled:
            if alert is None:
                return "opened" if _open(rule, finding=finding, now=now) else "held"
            if alert.detail != detail:
                alert.detail = detail
                alert.save(update_fields=["detail"])
            return "held"
        if alert is not None:
            _resolve(alert, detail=detail, now=now)
            return "resolved"
        return "quiet"


def evaluate_alert_rules(*, now: datetime | None = None) -> EvaluationReport:
    """Evaluate every enabled rule, resolve the alerts of disabled ones, send owed notices.

    A rule whose evaluation raises is reported and skipped: one broken rule does not keep the
    others from being evaluated.
    """
    now = now or timezone.now()
    report = EvaluationReport()
    rules = AlertRule.objects.select_related("queue", "notify_group")
    for rule in rules:
        if rule.enabled:
            try:
                finding = evaluate(rule, now=now)
            except Exception as error:
                report.failed[rule.name] = f"{type(error).__name__}: {error}"
                logger.exception("alert rule %r could not be evaluated", rule.name)
                continue
        else:
            if not Alert.objects.filter(rule=rule, resolved_at__isnull=True).exists():
                continue
            finding = Finding(firing=False, summary="rule disabled")
        outcome = apply_finding(rule=rule, finding=finding, now=now)
        if outcome != "quiet":
            getattr(report, outcome).append(rule.name)
    report.delivery = deliver_due()
    return report


def acknowledge_alert(*, alert: Alert, user: AbstractBaseUser) -> Alert:
    """Someone on call has seen the alert: who and when, recorded in the log.

    Needs `observability.acknowledge_alert`; a resolved or already acknowledged alert is
    refused with nothing written.
    """
    if not user.has_perm(ACKNOWLEDGE_PERMISSION):
        raise PermissionDenied("acknowledging an alert needs observability.acknowledge_alert")
    with transaction.atomic():
        locked = (
            Alert.objects.select_for_update(of=("self",)).select_related("rule").get(pk=alert.pk)
        )
        if locked.resolved_at is not None:
            raise AlertError(f"{locked} is resolved: nothing to acknowledge")
        if locked.acknowledged_at is not None:
            raise AlertError(f"{locked} was already acknowledged by {locked.acknowledged_by}")
        locked.acknowledged_at = timezone.now()
        locked.acknowledged_by = user
        locked.save(update_fields=["acknowledged_at", "acknowledged_by"])
        _record(locked, action="acknowledged", actor=Actor.for_user(user))
    return locked
