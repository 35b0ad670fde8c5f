"""Telling people: an email to the rule's notify group and a signed webhook, per transition.

A delivery row is created in the transaction that opens or resolves the alert (an outbox), one
per (alert, channel, transition), and sent afterwards by whoever claims its attempt; a failure
is kept with a backoff and tried again on a later evaluation, up to
OPSCORE_ALERT_DELIVERY_MAX_ATTEMPTS. Every attempt of a row carries the same message id (the
`webhook-id`, the email's Message-ID) and the same body, so a receiver that saw an attempt
whose answer was lost recognises the retry. Webhooks follow Standard Webhooks: each attempt is
signed afresh (the timestamp is part of the signature and receivers refuse old ones).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook

from approvals.notifications import addresses_of_group
from observability.models import Alert, AlertDelivery, AlertTransition, DeliveryChannel
from workflows.backoff import retry_delay

logger = logging.getLogger(__name__)

# How long one run keeps taking notices before leaving the rest to the next run.
DELIVERY_BUDGET_SECONDS = 30

SUBJECTS = {
    AlertTransition.OPENED: "[opscore] ALERT {rule}: {summary}",
    AlertTransition.RESOLVED: "[opscore] Resolved {rule}",
}


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0


def alert_url(alert: Alert) -> str:
    path = reverse("admin:observability_alert_change", args=[alert.pk])
    return f"{settings.OPSCORE_BASE_URL.rstrip('/')}{path}"


def notice_payload(*, alert: Alert, transition: str, at: datetime) -> dict:
    """The Standard Webhooks body ({type, timestamp, data}); the email renders the same."""
    rule = alert.rule
    return {
        "type": f"alert.{transition}",
        "timestamp": at.astimezone(UTC).isoformat(),
        "data": {
            "alert": alert.pk,
            "rule": rule.name,
            "kind": rule.kind,
            "workflow": rule.workflow,
            "queue": rule.queue.name if rule.queue_id else "",
            "integration": rule.integration,
            "opened_at": alert.opened_at.astimezone(UTC).isoformat(),
            "resolved_at": alert.resolved_at.astimezone(UTC).isoformat()
            if alert.resolved_at
            else None,
            "detail": alert.detail,
            "url": alert_url(alert),
        },
    }


def owe_notices(*, alert: Alert, transition: str, at: datetime) -> list[AlertDelivery]:
    """Create the deliveries a transition owes, in the caller's transaction.

    Email when the rule names a notify group with addresses; a webhook when
    OPSCORE_ALERT_WEBHOOK_URL is set. Nothing to tell nobody.
    """
    payload = notice_payload(alert=alert, transition=transition, at=at)
    owed = []
    rule = alert.rule
    recipients = addresses_of_group(rule.notify_group) if rule.notify_group_id else []
    if recipients:
        owed.append((DeliveryChannel.EMAIL, recipients))
    if settings.OPSCORE_ALERT_WEBHOOK_URL:
        owed.append((DeliveryChannel.WEBHOOK, []))
    return [
        AlertDelivery.objects.create(
            alert=alert,
            channel=channel,
            transition=transition,
            message_id=f"msg_alert{alert.pk}_{transition}_{channel}_{uuid.uuid4().hex[:12]}",
            recipients=to,
            payload=payload,
            created_at=at,
            next_attempt_at=at,
        )
        for channel, to in owed
    ]


def _send_email(delivery: AlertDelivery) -> None:
    data = delivery.payload["data"]
    context = {"transition": delivery.transition, **data}
    subject = SUBJECTS[delivery.transition].format(
        rule=data["rule"], summary=data["detail"].get("summary", "")
    )
    EmailMessage(
        subject=subject[:200],
        body=render_to_string("observability/email/alert.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=delivery.recipients,
        headers={
            "Message-ID": f"<{delivery.message_id}@opscore>",
            "X-Opscore-Alert": f"{data['alert']}:{delivery.transition}",
        },
    ).send(fail_silently=False)


def _send_webhook(delivery: AlertDelivery) -> None:
    url = settings.OPSCORE_ALERT_WEBHOOK_URL
    secret = settings.OPSCORE_ALERT_WEBHOOK_SECRET
    if not url or not secret:
        raise RuntimeError("OPSCORE_ALERT_WEBHOOK_URL and OPSCORE_ALERT_WEBHOOK_SECRET must be set")
    body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":"))
    now = datetime.now(tz=UTC)
    signature = Webhook(secret).sign(msg_id=delivery.message_id, timestamp=now, data=body)
    response = httpx.post(
        url,
        content=body.encode(),
        headers={
            "Content-Type": "application/json",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        },
        timeout=settings.OPSCORE_HTTP_TIMEOUT_SECONDS,
        follow_redirects=False,
    )
    if not response.is_success:
        raise RuntimeError(f"webhook answered {response.status_code}")


SENDERS = {DeliveryChannel.EMAIL: _send_email, DeliveryChannel.WEBHOOK: _send_webhook}


def _claim(pk: int, *, due: Q, until: datetime) -> AlertDelivery | None:
    """Take the next attempt of a due notice, or None if another evaluator took it.

    One conditional UPDATE, on every backend (SQLite has no row locks): the attempt is counted
    and the row is not due again until `until`, so nobody else sends it meanwhile, and if this
    process dies mid-send the notice is tried again then, under the same message id.
    """
    claimed = AlertDelivery.objects.filter(due, pk=pk).update(
        attempts=F("attempts") + 1, next_attempt_at=until
    )
    return AlertDelivery.objects.select_related("alert").get(pk=pk) if claimed else None


def deliver_due(*, now: datetime | None = None, batch_size: int = 100) -> DeliveryReport:
    """Send every owed notice whose next attempt is due; no lock is held while sending.

    Stops taking new notices after DELIVERY_BUDGET_SECONDS, so a receiver that times out
    cannot hold the evaluation schedule for long; the rest are sent by the next run.
    """
    now = now or timezone.now()
    started = time.monotonic()
    max_attempts = settings.OPSCORE_ALERT_DELIVERY_MAX_ATTEMPTS
    due = Q(sent_at__isnull=True, attempts__lt=max_attempts, next_attempt_at__lte=now)
    claim_for = timedelta(seconds=3 * settings.OPSCORE_HTTP_TIMEOUT_SECONDS + 30)
    pending = list(
        AlertDelivery.objects.filter(due)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    sent = failed = 0
    for pk in pending:
        if time.monotonic() - started > DELIVERY_BUDGET_SECONDS:
            break
        delivery = _claim(pk, due=due, until=timezone.now() + claim_for)
        if delivery is None:
            continue
        try:
            SENDERS[delivery.channel](delivery)
        except Exception as error:  # SMTP or the receiver down: keep the row, back off
            last_error = f"{type(error).__name__}: {error}"[:2000]
            AlertDelivery.objects.filter(pk=pk).update(
                last_error=last_error,
                next_attempt_at=timezone.now() + retry_delay(attempt=delivery.attempts),
            )
            failed += 1
            level = logging.ERROR if delivery.attempts >= max_attempts else logging.WARNING
            logger.log(
                level,
                "alert notice %s (%s) attempt %s/%s failed: %s",
                delivery.message_id,
                delivery.channel,
                delivery.attempts,
                max_attempts,
                last_error,
            )
            continue
        AlertDelivery.objects.filter(pk=pk).update(sent_at=timezone.now(), last_error="")
        sent += 1
    return DeliveryReport(sent=sent, failed=failed)
