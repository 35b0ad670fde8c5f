"""Refused requests: recorded (aggregated when the sender is unknown) and purged after the
retention window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from integrations.models import Integration, Rejection
from integrations.services._inbound_request import BODY_EXCERPT_BYTES, IDEMPOTENCY_KEY_MAX
from opscore import json_input
from opscore.api_errors import Problem
from opscore.metrics import INGEST_REJECTED
from opscore.scrubbing import scrub_secrets

REJECTION_DETAIL_MAX = 2000
REJECTION_ERRORS_MAX = 20


# The package logs under one name, `integrations.services`, whichever module speaks.
logger = structlog.stdlib.get_logger(__package__)


def record_rejection(
    *,
    channel: str,
    problem: Problem,
    integration: Integration | None = None,
    body: bytes = b"",
    document: Any = None,
    idempotency_key: str = "",
    source: str = "",
    client_ip: str | None = None,
    authenticated: bool = True,
) -> Rejection:
    """Record a refused request in its own transaction (the attempted work is already undone).

    What is stored is made storable first (no NUL, no lone surrogate: PostgreSQL refuses
    both), and the body only as an excerpt. A refusal of an authenticated caller is one row per
    request. Anyone can send junk unauthenticated, so those refusals aggregate: past
    OPSCORE_REJECTION_BURST rows for the same (channel, client IP, problem) within
    OPSCORE_REJECTION_WINDOW_SECONDS, the newest such row counts the request instead.
    """
    fields = document if isinstance(document, dict) else {}
    logger.info(
        "event.refused",
        channel=channel,
        problem=problem.code,
        status=problem.status_code,
        authenticated=authenticated,
    )
    problem.recorded = True  # so the API edge does not record it a second time
    INGEST_REJECTED.labels(channel=channel, problem=problem.code[:60]).inc()
    now = timezone.now()
    code = problem.code[:60]
    with transaction.atomic():
        if not authenticated:
            aggregated = _aggregate_rejection(
                channel=channel, client_ip=client_ip, problem=code, now=now
            )
            if aggregated is not None:
                return aggregated
        return Rejection.objects.create(
            received_at=now,
            last_seen_at=now,
            channel=channel,
            source=_storable_text(source or str(fields.get("source") or ""), 100),
            integration=integration,
            event_type=_storable_text(str(fields.get("type") or ""), 100),
            idempotency_key=_storable_text(idempotency_key, IDEMPOTENCY_KEY_MAX),
            status=problem.status_code,
            problem=code,
            detail=_storable_text(str(problem.detail), REJECTION_DETAIL_MAX),
            errors=json_input.storable(problem.errors[:REJECTION_ERRORS_MAX]),
            body_excerpt=_storable_text(
                body[:BODY_EXCERPT_BYTES].decode("utf-8", errors="replace"), BODY_EXCERPT_BYTES
            ),
            client_ip=client_ip,
            authenticated=authenticated,
        )


def _storable_text(text: str, limit: int) -> str:
    # A refused body may carry the caller's credentials (a pasted header, a signed URL).
    return json_input.storable(scrub_secrets(text[: limit * 2])[:limit])


def _aggregate_rejection(
    *, channel: str, client_ip: str | None, problem: str, now: datetime
) -> Rejection | None:
    """Count the request on the newest matching row if the window's burst is used up.

    A query on the table itself rather than a cache counter: the rows are the state, so every
    web process sees the same window without a shared cache, and nothing can disagree with
    what the table holds. Concurrent requests may each see the burst not yet used up and
    insert, so the bound is the burst plus the number of requests in flight at once.
    """
    window_start = now - timedelta(seconds=settings.OPSCORE_REJECTION_WINDOW_SECONDS)
    recent = list(
        Rejection.objects.filter(
            authenticated=False,
            channel=channel,
            client_ip=client_ip,
            problem=problem,
            received_at__gte=window_start,
        )
        .order_by("-received_at", "-pk")
        .values_list("pk", flat=True)[: settings.OPSCORE_REJECTION_BURST]
    )
    if len(recent) < settings.OPSCORE_REJECTION_BURST:
        return None
    Rejection.objects.filter(pk=recent[0]).update(count=F("count") + 1, last_seen_at=now)
    return Rejection.objects.get(pk=recent[0])


PURGE_BATCH = 1000


def purge_rejections(*, older_than: timedelta | None = None) -> int:
    """Delete rejections received before the retention window; return how many went.

    In batches, each its own short transaction, so a large backlog never holds one long
    lock on the table while new refusals are being written to it.
    """
    if older_than is None:
        older_than = timedelta(days=settings.OPSCORE_REJECTION_RETENTION_DAYS)
    cutoff = timezone.now() - older_than
    purged = 0
    while True:
        with transaction.atomic():
            batch = list(
                Rejection.objects.filter(received_at__lt=cutoff)
                .order_by("received_at")
                .values_list("pk", flat=True)[:PURGE_BATCH]
            )
            if not batch:
                return purged
            purged += Rejection.objects.filter(pk__in=batch).delete()[0]
