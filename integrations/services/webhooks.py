"""Inbound Standard Webhooks: verify a signed delivery and ingest it; mint and rotate the
sources' secrets."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from audit.services import record_config_change
from integrations.digests import canonical_json
from integrations.models import Channel, WebhookSecret, WebhookSource
from integrations.services._inbound_request import check_size, parse_body
from integrations.services.ingestion import Caller, IngestResult, ingest_event
from integrations.services.rejections import record_rejection
from opscore.actors import SYSTEM, Actor
from opscore.api_errors import Problem


def new_webhook_secret() -> str:
    return Webhook._SECRET_PREFIX + secrets.token_urlsafe(32).replace("-", "+").replace(
        "_", "/"
    ).rstrip("=")


def ingest_webhook(
    *, source_name: str, body: bytes, headers: dict[str, str], client_ip: str | None = None
) -> IngestResult:
    """Verify a Standard Webhooks delivery and ingest it with `webhook-id` as its key.

    Any active secret of the source may have signed it (rotation); the timestamp must be
    within 5 minutes of now. A delivery that fails is refused with 401 and recorded; until the
    signature is verified the sender is unknown, so those refusals aggregate per client IP.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    webhook_id = lowered.get("webhook-id", "")
    source = WebhookSource.objects.filter(name=source_name, is_active=True).first()
    if source is None:
        problem = Problem(
            status=404, code="unknown_webhook_source", detail=f"no webhook source {source_name!r}"
        )
        record_rejection(
            channel=Channel.WEBHOOK,
            problem=problem,
            body=body,
            idempotency_key=webhook_id,
            source=source_name[:100],
            client_ip=client_ip,
            authenticated=False,
        )
        raise problem
    verified = False
    try:
        check_size(body)
        _verify_signature(source=source, body=body, headers=lowered)
        verified = True
        message = parse_body(body)
    except Problem as problem:
        record_rejection(
            channel=Channel.WEBHOOK,
            problem=problem,
            integration=source.integration,
            body=body,
            idempotency_key=webhook_id,
            source=source.name,
            client_ip=client_ip,
            authenticated=verified,
        )
        raise
    caller = Caller(
        channel=Channel.WEBHOOK,
        actor=Actor.for_integration(f"webhook:{source.name}"),
        may_send=source.allows_event_type,
        namespace=f"webhook:{source.name}"[:100],
        integration=source.integration,
    )
    envelope = _webhook_envelope(source=source, message=message, headers=lowered)
    return ingest_event(
        body=canonical_json(envelope).encode(),
        idempotency_key=webhook_id,
        caller=caller,
        client_ip=client_ip,
    )


def _verify_signature(*, source: WebhookSource, body: bytes, headers: dict[str, str]) -> None:
    secrets_ = list(source.secrets.filter(is_active=True).values_list("secret", flat=True))
    reason = "the source has no active secret"
    for secret in secrets_:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
            return
        except WebhookVerificationError as error:
            reason = str(error)
            if "timestamp" in reason or "headers" in reason.lower():
                break  # the same for every secret: no point trying the others
        except (ValueError, TypeError, UnicodeDecodeError) as error:
            # The library splits and base64-decodes signatures unguarded.
            reason = f"malformed signature header: {error}"
    raise Problem(
        status=401,
        code="bad_signature",
        title="Webhook signature not verified",
        detail=reason,
        headers={"WWW-Authenticate": "Standard-Webhooks"},
    )


def _webhook_envelope(
    *, source: WebhookSource, message: Any, headers: dict[str, str]
) -> dict[str, Any]:
    """Standard Webhooks payloads are {type, timestamp, data}; map them onto the envelope."""
    if not isinstance(message, dict):
        message = {"data": message}
    data = message.get("data")
    occurred_at = message.get("timestamp")
    if not occurred_at:
        stamp = float(headers.get("webhook-timestamp") or 0)
        occurred_at = datetime.fromtimestamp(stamp, tz=UTC).isoformat()
    correlation_key = data.get(source.correlation_field) if isinstance(data, dict) else None
    return {
        "type": message.get("type"),
        "source": source.name,
        "occurred_at": occurred_at,
        "correlation_key": correlation_key if isinstance(correlation_key, str) else None,
        "payload": data,
    }


def _active_secret_ids(source: WebhookSource) -> list[int]:
    return list(
        WebhookSecret.objects.filter(source=source, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def add_webhook_secret(
    *, source: WebhookSource, actor: Actor = SYSTEM, channel: str = "system"
) -> WebhookSecret:
    """A new active secret for `source`, next to those already active (rotation: the sender
    moves over, then the old one is deactivated). One `config.webhooksecret.created` event
    (the source's first active secret) or `...rotated` (it had some); the event names the
    secrets by id, never by value."""
    with transaction.atomic():
        WebhookSource.objects.select_for_update().get(pk=source.pk)
        active_before = _active_secret_ids(source)
        secret = WebhookSecret.objects.create(source=source, secret=new_webhook_secret())
        record_config_change(
            actor=actor,
            channel=channel,
            kind="webhooksecret",
            action="rotated" if active_before else "created",
            target=source,
            label=f"secrets of {source.name}",
            before={"active_secrets": active_before},
            after={"active_secrets": _active_secret_ids(source), "added": secret.pk},
        )
    return secret
