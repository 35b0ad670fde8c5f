"""Many events in one request (`POST /api/v1/events:batch`), each answered as if sent alone.

Per-item semantics: every item goes through `ingest_event`, with its own idempotency key,
validation, deduplication, routing and answer (status and body, or problem details and a
recorded rejection). A refused item is rolled back to its own savepoint and leaves the
others in place; the accepted ones commit together in one transaction, so their log events
join the chain under one lock at one commit. Only what concerns the whole request refuses
the whole request: unreadable JSON, a body that is not `{"events": [...]}`, more than
`OPSCORE_MAX_BATCH_EVENTS` items.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from integrations.services.ingestion import Caller, IngestResult, ingest_event
from integrations.services.rejections import record_rejection
from opscore import json_input, request_context
from opscore.api_errors import Problem, json_input_problem


@dataclass
class BatchResult:
    """Answers in request order; `accepted` are the results to count once committed."""

    results: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[IngestResult] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        statuses = [item["status"] for item in self.results]
        return {
            "results": self.results,
            "accepted": sum(1 for r in self.accepted if not r.replayed),
            "replayed": sum(1 for r in self.accepted if r.replayed),
            "refused": sum(1 for status in statuses if status >= 400),
        }


def _batch_problem(status: int, code: str, detail: str, pointer: str = "") -> Problem:
    errors = [{"pointer": pointer, "detail": detail, "code": code}] if pointer else []
    return Problem(
        status=status, code=code, title="Unacceptable batch", detail=detail, errors=errors
    )


def _items(body: bytes) -> list[Any]:
    limit = settings.OPSCORE_MAX_BATCH_EVENTS
    try:
        document = json_input.parse_syntax(body)
    except json_input.JSONInputError as error:
        raise json_input_problem(error) from error
    if not isinstance(document, dict) or set(document) != {"events"}:
        raise _batch_problem(
            400, "invalid_batch", 'the body must be {"events": [...]} and nothing else'
        )
    items = document["events"]
    if not isinstance(items, list) or not items:
        raise _batch_problem(400, "invalid_batch", "events must be a non-empty list", "/events")
    if len(items) > limit:
        raise _batch_problem(
            413,
            "batch_too_large",
            f"the batch holds {len(items)} events; at most {limit} are accepted "
            "(OPSCORE_MAX_BATCH_EVENTS)",
            "/events",
        )
    return items


def _item_parts(item: Any) -> tuple[bytes, str | None]:
    """The item's event as the bytes a single request would carry, and its key."""
    if not isinstance(item, dict) or not isinstance(item.get("event"), dict):
        # Not an event at all: ingest_event refuses the empty object precisely.
        return b"{}", item.get("idempotency_key") if isinstance(item, dict) else None
    key = item.get("idempotency_key")
    # ASCII escapes keep a lone surrogate encodable; ingest_event's strict parse then refuses
    # it (and NUL characters, and excess depth) for this item alone.
    return json.dumps(item["event"]).encode(), key if isinstance(key, str) else None


def ingest_batch(*, body: bytes, caller: Caller, client_ip: str | None = None) -> BatchResult:
    """Ingest each event of a batch as `ingest_event` would, in one transaction.

    Raises `Problem` (recorded) only when the batch as a whole is unreadable or too large.
    Otherwise every item has an answer: `{"index", "status", "replayed", "body"}` for an
    accepted or replayed event, `{"index", "status", "problem"}` for a refused one (its
    rejection recorded in the same transaction).
    """
    try:
        items = _items(body)
    except Problem as problem:
        record_rejection(
            channel=caller.channel,
            problem=problem,
            integration=caller.integration,
            body=body,
            client_ip=client_ip,
        )
        raise
    outcome = BatchResult()
    with transaction.atomic():
        for index, item in enumerate(items):
            event_body, key = _item_parts(item)
            with request_context.scope(batch_item=index):
                try:
                    result = ingest_event(
                        body=event_body, idempotency_key=key, caller=caller, client_ip=client_ip
                    )
                except Problem as problem:
                    if not getattr(problem, "recorded", False):
                        record_rejection(
                            channel=caller.channel,
                            problem=problem,
                            integration=caller.integration,
                            body=event_body,
                            idempotency_key=key or "",
                            client_ip=client_ip,
                        )
                    outcome.results.append(
                        {
                            "index": index,
                            "status": problem.status_code,
                            "problem": problem.as_problem(),
                        }
                    )
                    continue
            outcome.accepted.append(result)
            outcome.results.append(
                {
                    "index": index,
                    "status": result.status,
                    "replayed": result.replayed,
                    "body": result.body,
                }
            )
    return outcome
