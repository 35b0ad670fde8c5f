"""The trigger layer's use cases: the one way in (`ingest_event`) and what feeds it.

API calls, signed webhooks, schedule ticks, the admin's manual start and re-delivery all end in
`ingest_event`: validate, dedupe, store and route in one transaction with the engine call, or
refuse with a problem and record the refusal after that transaction rolled back.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import structlog
from croniter import croniter
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_q.models import Schedule as QSchedule
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from audit.services import record_config_change
from integrations import selectors
from integrations.hashing import advisory_lock_id, canonical_json, key_digest, request_hash
from integrations.models import (
    ApiKey,
    BindingAction,
    Channel,
    EventType,
    InboundEvent,
    InboundStatus,
    Integration,
    Rejection,
    Schedule,
    TriggerBinding,
    WebhookSecret,
    WebhookSource,
)
from opscore import json_input, request_context
from opscore.actors import SYSTEM, Actor
from opscore.api_errors import Problem, json_input_problem
from opscore.metrics import INGEST_REJECTED
from opscore.scrubbing import scrub_secrets
from privacy import sealing
from workflows import engine, registry
from workflows import services as workflow_services
from workflows.models import WorkflowInstance

IDEMPOTENCY_KEY_MAX = 255
BODY_EXCERPT_BYTES = 4096
REJECTION_DETAIL_MAX = 2000
REJECTION_ERRORS_MAX = 20

ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "source", "occurred_at", "payload"],
    "additionalProperties": False,
    "properties": {
        "type": {"type": "string", "minLength": 1, "maxLength": 100},
        "source": {"type": "string", "minLength": 1, "maxLength": 100},
        "occurred_at": {"type": "string", "format": "date-time", "minLength": 1},
        "correlation_key": {"type": ["string", "null"], "maxLength": 200},
        "payload": {"type": "object"},
    },
}


# --- who is calling ------------------------------------------------------------------------


SEND_EVENT_PERMISSION = "integrations.send_event"
MANUAL_START_PERMISSION = "integrations.start_workflow_manually"
REDELIVER_PERMISSION = "integrations.redeliver_inboundevent"


@dataclass(frozen=True)
class Caller:
    """Who is ingesting, through which channel, and which event types they may send.

    `namespace` is where the caller's idempotency keys live (stored as the inbound event's
    `source`), derived from who authenticated, never from the body: an API key's is its
    integration's name (a slug, so never containing ":"), and the body's `source` must say
    the same (`source_is_namespace`); a webhook source's is `webhook:<name>`, a schedule's
    `schedule:<name>`, a staff user's `staff:<username>` on the API and `admin:<username>`
    for a manual start. No caller can answer from, or claim, another's keys.
    """

    channel: str
    actor: Actor
    may_send: Callable[[str], bool]
    namespace: str
    integration: Integration | None = None
    source_is_namespace: bool = False

    @classmethod
    def for_api_key(cls, api_key: ApiKey) -> Caller:
        return cls(
            channel=Channel.API,
            actor=Actor.for_integration(api_key.integration.name),
            may_send=api_key.allows_event_type,
            namespace=api_key.integration.name,
            integration=api_key.integration,
            source_is_namespace=True,
        )

    @classmethod
    def for_staff(cls, user, *, channel: str = Channel.API) -> Caller:
        """A person: on the API they need `integrations.send_event`, in admin's manual start
        `integrations.start_workflow_manually`; without it every event type is refused."""
        if channel == Channel.ADMIN:
            permission, prefix = MANUAL_START_PERMISSION, "admin"
        else:
            permission, prefix = SEND_EVENT_PERMISSION, "staff"
        return cls(
            channel=channel,
            actor=Actor.for_user(user),
            may_send=lambda type_: user.has_perm(permission),
            namespace=f"{prefix}:{user.get_username()}"[:100],
        )


@dataclass(frozen=True)
class IngestResult:
    status: int
    body: dict[str, Any]
    replayed: bool

    @property
    def inbound_event_id(self) -> str:
        return self.body["id"]


logger = structlog.stdlib.get_logger(__name__)


class _KeyRace(Exception):
    """The unique constraint caught a second insert for the key; re-read and answer from it."""


# --- validation ----------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(
        json.loads(schema_json), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def check_schema(schema: dict[str, Any]) -> None:
    """Raise jsonschema's SchemaError if `schema` is not a valid JSON Schema, or if its
    personal-data declaration (`x-personal`, `x-subject`; privacy.sealing) is unusable."""
    Draft202012Validator.check_schema(schema)
    errors = sealing.declaration_errors(schema)
    if errors:
        raise SchemaError("; ".join(errors))


def _schema_errors(*, schema: dict[str, Any], value: Any, prefix: str) -> list[dict[str, Any]]:
    validator = _validator(canonical_json(schema))
    found = sorted(validator.iter_errors(value), key=lambda error: list(error.absolute_path))
    return [
        {
            "pointer": prefix + "".join(f"/{part}" for part in error.absolute_path),
            "detail": error.message,
            "code": str(error.validator),
        }
        for error in found
    ]


def _check_size(body: bytes) -> None:
    limit = settings.OPSCORE_MAX_EVENT_BYTES
    if len(body) > limit:
        raise Problem(
            status=413,
            code="event_too_large",
            title="Event too large",
            detail=f"the event is {len(body)} bytes; at most {limit} are accepted "
            "(OPSCORE_MAX_EVENT_BYTES)",
        )


def _parse_body(body: bytes) -> Any:
    """Strict JSON (opscore.json_input): what is refused here could not be hashed or stored."""
    try:
        return json_input.parse_strict(body)
    except json_input.JSONInputError as error:
        raise json_input_problem(error) from error


def _check_idempotency_key(key: str | None) -> str:
    if not key or not key.strip():
        raise Problem(
            status=400,
            code="idempotency_key_missing",
            detail="an Idempotency-Key header is required (any unique string, e.g. a UUID)",
        )
    if len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise Problem(
            status=400,
            code="idempotency_key_invalid",
            detail=f"the Idempotency-Key must be printable text of at most "
            f"{IDEMPOTENCY_KEY_MAX} characters",
        )
    return key


@dataclass(frozen=True)
class _Validated:
    envelope: dict[str, Any]
    event_type: EventType
    binding: TriggerBinding | None
    occurred_at: datetime


# Text that ends up in headers, log lines and mail subjects (a correlation key is an escalation
# email's subject): a newline there breaks every message built from it later.
_HEADER_SAFE_FIELDS = ("type", "source", "correlation_key")


def _refuse_control_characters(document: dict[str, Any]) -> None:
    errors = [
        {
            "pointer": f"/{name}",
            "detail": "must be printable text: no control characters or line breaks",
            "code": "control_character",
        }
        for name in _HEADER_SAFE_FIELDS
        if isinstance(document.get(name), str) and not document[name].isprintable()
    ]
    if errors:
        raise Problem(
            status=400,
            code="control_character",
            title="Control character in an identifier",
            detail="; ".join(f"{e['pointer']}: {e['detail']}" for e in errors),
            errors=errors,
        )


def _occurred_at(text: str) -> tuple[datetime | None, str]:
    """The parsed moment, or why it is not one (an impossible date raises in the parser)."""
    try:
        moment = parse_datetime(text)
        if moment is not None and moment.tzinfo is not None:
            moment.astimezone(UTC)  # out of range once in UTC (year 0 or 10000)
    except (ValueError, OverflowError) as error:
        return None, f"{json_input.storable(text)[:40]!r} is not a real date and time: {error}"
    if moment is None or moment.tzinfo is None:
        return None, "must be an ISO 8601 date-time with a time zone offset"
    return moment, ""


def _validate(*, document: Any, caller: Caller) -> _Validated:
    errors = _schema_errors(schema=ENVELOPE_SCHEMA, value=document, prefix="")
    occurred_at = None
    if not errors:
        occurred_at, error = _occurred_at(document["occurred_at"])
        if error:
            errors.append({"pointer": "/occurred_at", "detail": error, "code": "format"})
    if errors:
        raise Problem(
            status=400,
            code="invalid_envelope",
            title="Invalid event",
            detail="; ".join(f"{e['pointer'] or '/'}: {e['detail']}" for e in errors[:5]),
            errors=errors,
        )
    _refuse_control_characters(document)
    event_type = selectors.active_event_type(name=document["type"])
    if event_type is None:
        raise Problem(
            status=400,
            code="unknown_event_type",
            title="Unknown event type",
            detail=f"no active event type {document['type']!r}",
            errors=[{"pointer": "/type", "detail": "unknown event type", "code": "unknown"}],
        )
    if not caller.may_send(event_type.name):
        raise Problem(
            status=403,
            code="event_type_not_allowed",
            detail=f"this caller may not send {event_type.name!r} events",
        )
    payload_errors = _schema_errors(
        schema=event_type.schema, value=document["payload"], prefix="/payload"
    )
    if payload_errors:
        raise Problem(
            status=400,
            code="schema_violation",
            title="Payload does not match the event type's schema",
            detail="; ".join(f"{e['pointer']}: {e['detail']}" for e in payload_errors[:5]),
            errors=payload_errors,
        )
    binding = getattr(event_type, "binding", None)
    if binding is not None and not binding.is_active:
        binding = None
    if (
        binding is not None
        and binding.action == BindingAction.SIGNAL
        and not document.get("correlation_key")
    ):
        raise Problem(
            status=400,
            code="correlation_key_missing",
            detail=f"{event_type.name!r} signals an instance: correlation_key is required",
            errors=[{"pointer": "/correlation_key", "detail": "required", "code": "required"}],
        )
    return _Validated(
        envelope=document, event_type=event_type, binding=binding, occurred_at=occurred_at
    )


# --- ingestion -----------------------------------------------------------------------------


def ingest_event(
    *,
    body: bytes,
    idempotency_key: str | None,
    caller: Caller,
    redelivery_of: InboundEvent | None = None,
    client_ip: str | None = None,
) -> IngestResult:
    """Validate, dedupe, store and route one event; or refuse it and record the refusal.

    Guarantees: an accepted event, the inbound row and everything the engine did for it
    commit together; a refusal raises `Problem` having written nothing but a `Rejection` row.
    (source, idempotency key) is unique forever: the same body again returns the first
    response (`replayed=True`), a different body is refused with 422, and while the first
    request is still in its transaction a second one is refused with 409.
    """
    document: Any = None
    request_context.bind(
        integration=caller.integration.name if caller.integration is not None else None,
        actor=str(caller.actor),
    )
    try:
        key = _check_idempotency_key(idempotency_key)
        request_context.bind(idempotency_key=key)
        _check_size(body)
        document = _parse_body(body)
        validated = _validate(document=document, caller=caller)
        # Validated: a string of at most 200 characters without control characters.
        request_context.bind(correlation_key=validated.envelope.get("correlation_key") or None)
        try:
            result = _store_and_route(
                validated=validated, key=key, caller=caller, redelivery_of=redelivery_of
            )
        except _KeyRace:
            # The winner has committed by the time the constraint fires; answer from its row.
            with transaction.atomic():
                answer = _answer_existing(
                    source=caller.namespace,
                    key=key,
                    digest=_digest(envelope=validated.envelope, namespace=caller.namespace),
                )
            if answer is None:
                raise _in_flight() from None
            result = answer
    except Problem as problem:
        record_rejection(
            channel=caller.channel,
            problem=problem,
            integration=caller.integration,
            body=body,
            document=document,
            idempotency_key=idempotency_key or "",
            client_ip=client_ip,
        )
        raise
    logger.info(
        "event.replayed" if result.replayed else "event.accepted",
        channel=caller.channel,
        type=validated.event_type.name,
        inbound_event=result.body.get("id"),
        status=result.status,
    )
    return result


def _store_and_route(
    *, validated: _Validated, key: str, caller: Caller, redelivery_of: InboundEvent | None
) -> IngestResult:
    envelope = validated.envelope
    source = _namespace(caller=caller, envelope=envelope)
    digest = _digest(envelope=envelope, namespace=source)
    try:
        with transaction.atomic():
            _lock_key(source=source, key=key)
            existing = _answer_existing(source=source, key=key, digest=digest)
            if existing is not None:
                return existing
            event_id = uuid.uuid4()
            # Validated as sent, stored sealed: from here on (inbound row, context, log)
            # personal values exist only as ciphertext under their subject's key.
            payload = sealing.seal_payload(
                schema=validated.event_type.schema,
                payload=envelope["payload"],
                fallback_ref=f"event:{event_id}",
            )
            instance, transition = _route(
                validated=validated,
                caller=caller,
                event_id=event_id,
                source=source,
                payload=payload,
            )
            status = InboundStatus.ROUTED if instance is not None else InboundStatus.STORED
            received_at = timezone.now()
            response = {
                "id": str(event_id),
                "type": validated.event_type.name,
                "source": source,
                "idempotency_key": key,
                "status": str(status),
                "received_at": received_at.isoformat(),
                "instance": _instance_summary(instance),
                "transition": transition or None,
            }
            # No savepoint: a unique-key clash abandons the whole transaction anyway, and a
            # savepoint would add two round trips while the log's chain head is locked.
            try:
                InboundEvent.objects.create(
                    id=event_id,
                    received_at=received_at,
                    channel=caller.channel,
                    source=source,
                    idempotency_key=key,
                    request_hash=digest,
                    type=validated.event_type.name,
                    occurred_at=validated.occurred_at,
                    correlation_key=envelope.get("correlation_key") or "",
                    payload=payload,
                    status=status,
                    integration=caller.integration,
                    actor_ref=str(caller.actor),
                    workflow=instance.workflow_name if instance is not None else "",
                    instance_id=instance.pk if instance is not None else None,
                    transition=transition,
                    response_status=201,
                    response_body=response,
                    redelivery_of=redelivery_of,
                )
            except IntegrityError as error:
                raise _KeyRace from error
            return IngestResult(status=201, body=response, replayed=False)
    except engine.WorkflowError as error:
        raise _routing_problem(error) from error


def _namespace(*, caller: Caller, envelope: dict[str, Any]) -> str:
    """The caller's idempotency namespace; an API key may not speak for another source."""
    if caller.source_is_namespace and envelope["source"] != caller.namespace:
        raise Problem(
            status=403,
            code="source_mismatch",
            title="Source does not match the API key",
            detail=f"this API key belongs to {caller.namespace!r}; it may not send events as "
            f"{envelope['source']!r}",
            errors=[
                {"pointer": "/source", "detail": "not this key's integration", "code": "mismatch"}
            ],
        )
    return caller.namespace


def _digest(*, envelope: dict[str, Any], namespace: str) -> str:
    # Hashed as stored (source = namespace), so a re-delivery rebuilt from the stored row is
    # the same request; for an API key the two are already equal.
    return request_hash({**envelope, "source": namespace})


def _lock_key(*, source: str, key: str) -> None:
    """Refuse with 409 while another transaction holds the same key.

    On PostgreSQL a transaction-scoped advisory lock marks the key in flight and vanishes with
    the transaction, so a crashed request leaves nothing to clean up. SQLite runs one writer
    at a time (BEGIN IMMEDIATE), so a second request simply finds the first one's row.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s)",
            [advisory_lock_id(source=source, idempotency_key=key)],
        )
        (acquired,) = cursor.fetchone()
    if not acquired:
        raise _in_flight()


def _in_flight() -> Problem:
    return Problem(
        status=409,
        code="idempotency_key_in_flight",
        title="Request in progress",
        detail="a request with this Idempotency-Key is still being processed; "
        "retry after it finishes to get its response",
        headers={"Retry-After": "1"},
    )


def _answer_existing(*, source: str, key: str, digest: str) -> IngestResult | None:
    try:
        existing = InboundEvent.objects.values(
            "request_hash", "response_status", "response_body"
        ).get(source=source, idempotency_key=key)
    except InboundEvent.DoesNotExist:
        return None
    if existing["request_hash"] != digest:
        raise Problem(
            status=422,
            code="idempotency_key_reused",
            title="Idempotency-Key reused with a different body",
            detail=f"the Idempotency-Key {key!r} from {source!r} was first used with a "
            "different request body; use a new key for a new event",
        )
    return IngestResult(
        status=existing["response_status"], body=existing["response_body"], replayed=True
    )


def _route(
    *,
    validated: _Validated,
    caller: Caller,
    event_id: uuid.UUID,
    source: str,
    payload: dict[str, Any],
) -> tuple[WorkflowInstance | None, str]:
    binding = validated.binding
    if binding is None:
        return None, ""
    envelope = validated.envelope
    trigger = {"inbound_event": str(event_id), "type": validated.event_type.name, "source": source}
    if binding.action == BindingAction.START:
        instance = workflow_services.start_workflow(
            workflow=binding.workflow,
            payload=payload,
            trigger=trigger,
            actor=caller.actor,
            correlation_key=envelope.get("correlation_key") or None,
        )
        return instance, ""
    try:
        # A binding saved before the rule (or written around it) still reaches only a
        # declared signal: workflows.services and the engine refuse anything else.
        instance = workflow_services.signal_workflow(
            workflow=binding.workflow,
            correlation_key=envelope["correlation_key"],
            transition=binding.transition,
            actor=caller.actor,
            data=payload,
            trigger=trigger,
        )
    except registry.get(binding.workflow).model.DoesNotExist as error:
        raise Problem(
            status=422,
            code="instance_not_found",
            title="No instance to signal",
            detail=f"no {binding.workflow} with correlation key {envelope['correlation_key']!r}",
            errors=[{"pointer": "/correlation_key", "detail": "not found", "code": "not_found"}],
        ) from error
    return instance, binding.transition


def _routing_problem(error: engine.WorkflowError) -> Problem:
    if isinstance(error, engine.DuplicateCorrelationKey):
        return Problem(
            status=409,
            code="correlation_key_taken",
            title="Correlation key already in use",
            detail=str(error),
            errors=[{"pointer": "/correlation_key", "detail": "taken", "code": "unique"}],
        )
    if isinstance(error, engine.IllegalTransition):
        return Problem(
            status=422, code="illegal_transition", title="Illegal transition", detail=str(error)
        )
    if isinstance(error, engine.TransitionNotPermitted):
        return Problem(
            status=403,
            code="transition_not_permitted",
            title="Transition not permitted to this caller",
            detail=str(error),
        )
    return Problem(status=422, code="workflow_refused", detail=str(error))


def _instance_summary(instance: WorkflowInstance | None) -> dict[str, Any] | None:
    if instance is None:
        return None
    return {
        "workflow": instance.workflow_name,
        "id": instance.pk,
        "correlation_key": instance.correlation_key,
        "state": str(instance.state),
        "version": instance.version,
    }


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


# --- webhooks ------------------------------------------------------------------------------


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
        _check_size(body)
        _verify_signature(source=source, body=body, headers=lowered)
        verified = True
        message = _parse_body(body)
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


# --- API keys ------------------------------------------------------------------------------


def _service_user(integration: Integration):
    if integration.user_id is not None:
        return integration.user
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(
        username=f"integration:{integration.name}"[:150],
        defaults={"is_staff": False, "is_active": True},
    )
    user.set_unusable_password()
    user.save()
    integration.user = user
    integration.save(update_fields=["user"])
    return user


def api_key_fields(api_key: ApiKey) -> dict[str, Any]:
    """What a configuration event says of a key: never the key nor its digest, only its
    public prefix, its name and what it may do."""
    return {
        "integration": api_key.integration.name,
        "name": api_key.name,
        "prefix": api_key.prefix,
        "scopes": list(api_key.scopes),
        "event_types": list(api_key.event_types),
        "revoked_at": api_key.revoked_at,
        "replaced_by": api_key.replaced_by.prefix if api_key.replaced_by_id else None,
    }


def _record_api_key(
    *,
    api_key: ApiKey,
    actor: Actor,
    channel: str,
    action: str,
    before: dict[str, Any] | None,
) -> None:
    record_config_change(
        actor=actor,
        channel=channel,
        kind="apikey",
        action=action,
        target=api_key,
        label=f"key {api_key.prefix} of {api_key.integration.name}",
        before=before,
        after=api_key_fields(api_key),
    )


def _mint_api_key(
    *, integration: Integration, scopes: list[str], event_types: list[str], name: str
) -> tuple[ApiKey, str]:
    _service_user(integration)
    prefix = secrets.token_hex(4)
    plaintext = f"opk_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        integration=integration,
        name=name,
        prefix=prefix,
        digest=key_digest(plaintext),
        scopes=list(scopes),
        event_types=list(event_types),
    )
    return api_key, plaintext


def create_api_key(
    *,
    integration: Integration,
    scopes: list[str],
    event_types: list[str],
    name: str = "",
    actor: Actor = SYSTEM,
    channel: str = "system",
) -> tuple[ApiKey, str]:
    """Mint a key; the plaintext is returned once and only its digest is stored. One
    `config.apikey.created` event, naming the key by its prefix."""
    with transaction.atomic():
        api_key, plaintext = _mint_api_key(
            integration=integration, scopes=scopes, event_types=event_types, name=name
        )
        _record_api_key(
            api_key=api_key, actor=actor, channel=channel, action="created", before=None
        )
    return api_key, plaintext


def rename_api_key(
    *, api_key: ApiKey, name: str, actor: Actor = SYSTEM, channel: str = "system"
) -> ApiKey:
    """Change a key's label, the one thing about a live key edited in place."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().select_related("integration").get(pk=api_key.pk)
        if locked.name == name:
            return locked
        before = api_key_fields(locked)
        locked.name = name
        locked.save(update_fields=["name"])
        _record_api_key(
            api_key=locked, actor=actor, channel=channel, action="changed", before=before
        )
    return locked


def revoke_api_key(*, api_key: ApiKey, actor: Actor = SYSTEM, channel: str = "system") -> ApiKey:
    """Stop a key at once; revoking a revoked key changes (and records) nothing."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().select_related("integration").get(pk=api_key.pk)
        if locked.revoked_at is None:
            before = api_key_fields(locked)
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            _record_api_key(
                api_key=locked, actor=actor, channel=channel, action="revoked", before=before
            )
    api_key.refresh_from_db()
    return api_key


def rotate_api_key(
    *, api_key: ApiKey, actor: Actor = SYSTEM, channel: str = "system"
) -> tuple[ApiKey, str]:
    """Replace a key with a new one of the same scopes; the old one stops working at once.
    One `config.apikey.rotated` event on the old key, naming the new one by its prefix."""
    with transaction.atomic():
        old = ApiKey.objects.select_for_update().select_related("integration").get(pk=api_key.pk)
        before = api_key_fields(old)
        new, plaintext = _mint_api_key(
            integration=old.integration,
            scopes=old.scopes,
            event_types=old.event_types,
            name=old.name,
        )
        old.revoked_at = old.revoked_at or timezone.now()
        old.replaced_by = new
        old.save(update_fields=["revoked_at", "replaced_by"])
        _record_api_key(api_key=old, actor=actor, channel=channel, action="rotated", before=before)
    return new, plaintext


def ensure_integration(
    *, name: str, actor: Actor = SYSTEM, channel: str = "system"
) -> tuple[Integration, bool]:
    """The integration named `name`, created (and recorded) if missing."""
    with transaction.atomic():
        integration, created = Integration.objects.get_or_create(name=name)
        if created:
            record_config_change(
                actor=actor,
                channel=channel,
                kind="integration",
                action="created",
                target=integration,
                label=integration.name,
                before=None,
                after={"name": integration.name, "is_active": integration.is_active},
            )
    return integration, created


# --- webhook secrets -----------------------------------------------------------------------


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


# --- admin: manual start and re-delivery ---------------------------------------------------


def start_manually(
    *,
    event_type: EventType,
    payload: dict[str, Any],
    correlation_key: str,
    idempotency_key: str,
    occurred_at: datetime,
    user,
) -> IngestResult:
    """The admin's manual start: an event from the `admin` source, through the same path.

    The form carries its key and the moment it was opened, so submitting it twice is the same
    request twice and starts one instance. The key lives in `admin:<username>`, so it can
    never answer for, or block, an integration's or another person's key; the user needs
    `integrations.start_workflow_manually` (checked with the event type, and recorded when
    refused).
    """
    envelope = {
        "type": event_type.name,
        "source": "admin",
        "occurred_at": occurred_at.isoformat(),
        "correlation_key": correlation_key or None,
        "payload": payload,
    }
    return ingest_event(
        body=canonical_json(envelope).encode(),
        idempotency_key=idempotency_key,
        caller=Caller.for_staff(user, channel=Channel.ADMIN),
    )


def redeliver_inbound_event(*, event: InboundEvent, user, new_key: bool) -> IngestResult:
    """Replay a stored event's trigger.

    With its own key deduplication applies and the first response comes back (nothing new is
    written). With `new_key` the operator asks for a second delivery: a new inbound event,
    channel `redelivery`, pointing at the original and naming the operator. Either way the
    event stays in its original namespace (its stored `source`), and the operator needs
    `integrations.redeliver_inboundevent`.
    """
    # Rebuilt as it was sent: the same body hashes the same, and is validated and sealed anew.
    payload = sealing.reveal(event.payload)
    if sealing.has_erased(event.payload):
        raise Problem(
            status=409,
            code="personal_data_erased",
            title="Personal data erased",
            detail="this event's personal data was erased; it can no longer be re-delivered",
        )
    envelope = {
        "type": event.type,
        "source": event.source,
        "occurred_at": event.occurred_at.isoformat(),
        "correlation_key": event.correlation_key or None,
        "payload": payload,
    }
    caller = Caller(
        channel=Channel.REDELIVERY,
        actor=Actor.for_user(user),
        may_send=lambda type_: user.has_perm(REDELIVER_PERMISSION),
        namespace=event.source,
    )
    if not new_key:
        return ingest_event(
            body=canonical_json(envelope).encode(),
            idempotency_key=event.idempotency_key,
            caller=caller,
        )
    key = f"{event.idempotency_key[:200]}:redelivery:{uuid.uuid4().hex[:16]}"
    return ingest_event(
        body=canonical_json(envelope).encode(),
        idempotency_key=key,
        caller=caller,
        redelivery_of=event,
    )


# --- schedules -----------------------------------------------------------------------------

FIRE_SCHEDULE_TASK = "integrations.tasks.fire_schedule"


def validate_cron(expression: str) -> None:
    if not croniter.is_valid(expression):
        raise ValueError(f"{expression!r} is not a valid cron expression")


def sync_schedule(*, schedule: Schedule) -> Schedule:
    """Create, update or remove the django-q2 schedule that ticks this trigger.

    django-q2 passes each run's intended slot (`slot`), which becomes the idempotency key:
    two clusters ticking the same slot produce one event. With catch_up off, a stretch of
    missed slots fires once, for the first missed slot, never once per slot.
    """
    validate_cron(schedule.cron)
    with transaction.atomic():
        q_schedule = schedule.q_schedule
        if not schedule.is_active:
            schedule.q_schedule = None
            schedule.save(update_fields=["q_schedule"])
            if q_schedule is not None:
                q_schedule.delete()
            return schedule
        if q_schedule is None:
            q_schedule = QSchedule(func=FIRE_SCHEDULE_TASK)
        q_schedule.name = f"trigger:{schedule.name}"[:100]
        q_schedule.args = repr(schedule.pk)
        q_schedule.schedule_type = QSchedule.CRON
        q_schedule.cron = schedule.cron
        q_schedule.repeats = -1
        q_schedule.intended_date_kwarg = "slot"
        q_schedule.next_run = croniter(schedule.cron, timezone.localtime()).get_next(datetime)
        q_schedule.save()
        if schedule.q_schedule_id != q_schedule.pk:
            schedule.q_schedule = q_schedule
            schedule.save(update_fields=["q_schedule"])
    return schedule


def schedule_fields(schedule: Schedule) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "event_type": schedule.event_type.name,
        "cron": schedule.cron,
        "payload": schedule.payload,
        "correlation_key": schedule.correlation_key,
        "is_active": schedule.is_active,
    }


def delete_schedule(*, schedule: Schedule, actor: Actor = SYSTEM, channel: str = "system") -> None:
    """Remove the trigger and the django-q2 schedule that ticks it, together; one
    `config.schedule.deleted` event."""
    with transaction.atomic():
        record_config_change(
            actor=actor,
            channel=channel,
            kind="schedule",
            action="deleted",
            target=schedule,
            label=schedule.name,
            before=schedule_fields(schedule),
            after=None,
        )
        q_schedule = schedule.q_schedule
        schedule.delete()
        if q_schedule is not None:
            q_schedule.delete()


def fire_schedule(*, schedule_id: int, slot: str) -> IngestResult | None:
    """Emit the schedule's event for `slot`; the same slot twice is a replay, never a new event."""
    schedule = Schedule.objects.select_related("event_type").filter(pk=schedule_id).first()
    if schedule is None or not schedule.is_active:
        return None
    envelope = {
        "type": schedule.event_type.name,
        "source": f"schedule:{schedule.name}"[:100],
        "occurred_at": slot,
        "correlation_key": schedule.correlation_key.replace("{slot}", slot) or None,
        "payload": {**schedule.payload},
    }
    # Not the engine's SYSTEM actor: a schedule is an outside caller, limited to signals.
    caller = Caller(
        channel=Channel.SCHEDULE,
        actor=Actor(kind="system", ref=f"schedule:{schedule.name}"[:150]),
        may_send=lambda type_: True,
        namespace=f"schedule:{schedule.name}"[:100],
    )
    return ingest_event(body=canonical_json(envelope).encode(), idempotency_key=slot, caller=caller)


# --- reference event types -----------------------------------------------------------------

# Closed and bounded: an unknown field or an oversize string is refused (400
# schema_violation, recorded) instead of being copied into the instance and the log. Caller
# input lands under context["input"] whatever the schema, so a closed schema bounds size and
# shape; it is not what keeps a payload from posing as server data. Seeding never overwrites
# an existing event type, so a database seeded earlier keeps its old schema until edited.
# `correlation_key` is allowed because a webhook carries it inside its data (the source's
# `correlation_field`).
ORDER_RECEIVED_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order_id", "customer", "postcode", "weight_kg", "value"],
    "additionalProperties": False,
    # Personal values are sealed under the customer's key (privacy.sealing): the email when
    # given, else the name, identifies them for `erase_subject`.
    "x-subject": ["email", "customer"],
    "properties": {
        "order_id": {"type": "string", "minLength": 1, "maxLength": 100},
        "customer": {"type": "string", "minLength": 1, "maxLength": 200, "x-personal": True},
        "email": {"type": "string", "format": "email", "maxLength": 254, "x-personal": True},
        "address": {"type": "string", "maxLength": 500, "x-personal": True},
        "postcode": {
            "type": "string",
            "maxLength": 16,
            "pattern": "^[A-Za-z]{1,2}[0-9]",
            "x-personal": True,
        },
        "weight_kg": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
        "value": {"type": "number", "minimum": 0, "maximum": 1_000_000_000},
        "correlation_key": {"type": "string", "maxLength": 200},
    },
}
SHIPMENT_DELIVERED_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["tracking_number"],
    "additionalProperties": False,
    # Whoever signed for the parcel is the subject of their own name.
    "x-subject": ["signed_by", "tracking_number"],
    "properties": {
        "tracking_number": {"type": "string", "minLength": 1, "maxLength": 100},
        "signed_by": {"type": "string", "maxLength": 200, "x-personal": True},
        "delivered_at": {"type": "string", "format": "date-time", "maxLength": 64},
        "correlation_key": {"type": "string", "maxLength": 200},
    },
}
REFERENCE_EVENT_TYPES = [
    (
        "order.received",
        "A customer order to fulfil; starts the order workflow.",
        ORDER_RECEIVED_SCHEMA,
        {"action": BindingAction.START, "workflow": "order", "transition": ""},
    ),
    (
        "shipment.delivered",
        "The carrier's proof of delivery; signals confirm_delivery on the order.",
        SHIPMENT_DELIVERED_SCHEMA,
        {"action": BindingAction.SIGNAL, "workflow": "order", "transition": "confirm_delivery"},
    ),
]


def seed_reference_event_types() -> int:
    """Create the order workflow's event types and bindings if missing; never overwrite.

    Bindings are validated like the admin's (`TriggerBinding.clean`): a signal binding names
    a transition its workflow declares as a signal.
    """
    created = 0
    with transaction.atomic():
        for name, description, schema, binding in REFERENCE_EVENT_TYPES:
            event_type, was_created = EventType.objects.get_or_create(
                name=name, defaults={"description": description, "schema": schema}
            )
            created += was_created
            if not TriggerBinding.objects.filter(event_type=event_type).exists():
                new = TriggerBinding(event_type=event_type, **binding)
                new.full_clean()
                new.save()
    return created


__all__ = [
    "Caller",
    "IngestResult",
    "SchemaError",
    "add_webhook_secret",
    "check_schema",
    "create_api_key",
    "delete_schedule",
    "ensure_integration",
    "fire_schedule",
    "ingest_event",
    "ingest_webhook",
    "redeliver_inbound_event",
    "rename_api_key",
    "revoke_api_key",
    "rotate_api_key",
    "start_manually",
    "sync_schedule",
]
