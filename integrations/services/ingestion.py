"""The one way in: `ingest_event` validates, dedupes, stores and routes an event in one transaction
with the engine call, or refuses it with a problem and records the refusal after that
transaction rolled back. Who is calling (`Caller`) and what they get back (`IngestResult`)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from integrations import selectors
from integrations.digests import advisory_lock_id, request_hash
from integrations.models import (
    ApiKey,
    BindingAction,
    Channel,
    EventType,
    InboundEvent,
    InboundStatus,
    Integration,
    TriggerBinding,
)
from integrations.services._inbound_request import IDEMPOTENCY_KEY_MAX, check_size, parse_body
from integrations.services._schema_validators import compiled
from integrations.services.rejections import record_rejection
from opscore import json_input, request_context
from opscore.actors import Actor
from opscore.api_errors import Problem
from opscore.bulk_insert import insert_rows
from privacy import sealing
from workflows import engine, registry
from workflows import services as workflow_services
from workflows.models import WorkflowInstance

ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "source", "occurred_at", "payload"],
    "additionalProperties": False,
    "properties": {
        "type": {"type": "string", "minLength": 1, "maxLength": 100},
        "source": {"type": "string", "minLength": 1, "maxLength": 100},
        # `_occurred_at` checks it: ISO 8601 with an offset (seconds optional), wider than
        # RFC 3339's "date-time", and with its own answers.
        "occurred_at": {"type": "string", "minLength": 1},
        "correlation_key": {"type": ["string", "null"], "maxLength": 200},
        "payload": {"type": "object"},
    },
}


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


# The package logs under one name, `integrations.services`, whichever module speaks.
logger = structlog.stdlib.get_logger(__package__)


class _KeyRace(Exception):
    """The unique constraint caught a second insert for the key; re-read and answer from it."""


def check_schema(schema: dict[str, Any]) -> None:
    """Raise jsonschema's SchemaError if `schema` is not a valid JSON Schema, or if its
    personal-data declaration (`x-personal`, `x-subject`; privacy.sealing) is unusable."""
    Draft202012Validator.check_schema(schema)
    errors = sealing.declaration_errors(schema)
    if errors:
        raise SchemaError("; ".join(errors))


def _schema_errors(*, schema: dict[str, Any], value: Any, prefix: str) -> list[dict[str, Any]]:
    validators = compiled(schema)
    # Nearly every event is valid: the sorted list of every error only for one that is not.
    if validators.accepts(value):
        return []
    found = sorted(
        validators.reference.iter_errors(value), key=lambda error: list(error.absolute_path)
    )
    return [
        {
            "pointer": prefix + "".join(f"/{part}" for part in error.absolute_path),
            "detail": error.message,
            "code": str(error.validator),
        }
        for error in found
    ]


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
class ValidatedEvent:
    """An event that passed every check the database is not needed for, ready to store."""

    envelope: dict[str, Any]
    event_type: EventType
    binding: TriggerBinding | None
    occurred_at: datetime
    key: str = ""
    source: str = ""
    digest: str = ""


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


def _validate(*, document: Any, caller: Caller) -> ValidatedEvent:
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
    return ValidatedEvent(
        envelope=document, event_type=event_type, binding=binding, occurred_at=occurred_at
    )


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
    bind_caller(caller)
    validated = read_event(
        body=body, idempotency_key=idempotency_key, caller=caller, client_ip=client_ip
    )
    return ingest_validated(
        validated=validated,
        caller=caller,
        body=body,
        client_ip=client_ip,
        redelivery_of=redelivery_of,
    )


def ingest_validated(
    *,
    validated: ValidatedEvent,
    caller: Caller,
    body: bytes,
    client_ip: str | None,
    redelivery_of: InboundEvent | None = None,
) -> IngestResult:
    """The rest of `ingest_event` once `read_event` accepted the event: store and route it,
    or refuse it (recorded) with nothing else written."""
    try:
        try:
            result = store_and_route(
                validated=validated, caller=caller, redelivery_of=redelivery_of
            )
        except _KeyRace:
            # The winner has committed by the time the constraint fires; answer from its row.
            with transaction.atomic():
                answer = answer_existing(validated)
            if answer is None:
                raise key_in_flight() from None
            result = answer
    except Problem as problem:
        refuse(
            problem=problem,
            caller=caller,
            body=body,
            document=validated.envelope,
            idempotency_key=validated.key,
            client_ip=client_ip,
        )
        raise
    log_answer(result=result, caller=caller, validated=validated)
    return result


def bind_caller(caller: Caller) -> None:
    request_context.bind(
        integration=caller.integration.name if caller.integration is not None else None,
        actor=str(caller.actor),
    )


def read_event(
    *, body: bytes, idempotency_key: str | None, caller: Caller, client_ip: str | None
) -> ValidatedEvent:
    """Every check of one event the database is not needed for, in the order the answer
    names the first failure: key, size, strict JSON, envelope, event type, permission,
    payload schema, source. A refusal is recorded, then raised as `Problem`."""
    document: Any = None
    try:
        key = _check_idempotency_key(idempotency_key)
        request_context.bind(idempotency_key=key)
        check_size(body)
        document = parse_body(body)
        validated = _validate(document=document, caller=caller)
        source = _namespace(caller=caller, envelope=validated.envelope)
    except Problem as problem:
        refuse(
            problem=problem,
            caller=caller,
            body=body,
            document=document,
            idempotency_key=idempotency_key,
            client_ip=client_ip,
        )
        raise
    # Validated: a string of at most 200 characters without control characters.
    request_context.bind(correlation_key=validated.envelope.get("correlation_key") or None)
    return dataclasses.replace(
        validated,
        key=key,
        source=source,
        digest=_digest(envelope=validated.envelope, namespace=source),
    )


def refuse(
    *,
    problem: Problem,
    caller: Caller,
    body: bytes,
    document: Any,
    idempotency_key: str | None,
    client_ip: str | None,
) -> None:
    """Record a refused event (once: a problem already recorded is not recorded again)."""
    if getattr(problem, "recorded", False):
        return
    record_rejection(
        channel=caller.channel,
        problem=problem,
        integration=caller.integration,
        body=body,
        document=document,
        idempotency_key=idempotency_key or "",
        client_ip=client_ip,
    )


def log_answer(*, result: IngestResult, caller: Caller, validated: ValidatedEvent) -> None:
    logger.info(
        "event.replayed" if result.replayed else "event.accepted",
        channel=caller.channel,
        type=validated.event_type.name,
        inbound_event=result.body.get("id"),
        status=result.status,
    )


def store_and_route(
    *, validated: ValidatedEvent, caller: Caller, redelivery_of: InboundEvent | None = None
) -> IngestResult:
    """Lock the key, answer from its first use or store and route the event, in a savepoint
    of the caller's transaction when there is one. Raises `Problem` (nothing written) or
    `_KeyRace` (the key was stored meanwhile: the caller answers from that row)."""
    envelope = validated.envelope
    source, key = validated.source, validated.key
    try:
        with transaction.atomic():
            _lock_key(source=source, key=key)
            existing = answer_existing(validated)
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
                validated=validated, caller=caller, event_id=event_id, payload=payload
            )
            row = inbound_row(
                validated=validated,
                caller=caller,
                event_id=event_id,
                payload=payload,
                instance=instance,
                transition=transition,
                received_at=timezone.now(),
                redelivery_of=redelivery_of,
            )
            # No savepoint: a unique-key clash abandons the whole transaction anyway, and a
            # savepoint would add two round trips while the log's chain head is locked.
            try:
                insert_rows([row])
            except IntegrityError as error:
                raise _KeyRace from error
            return IngestResult(status=201, body=row.response_body, replayed=False)
    except engine.WorkflowError as error:
        raise routing_problem(error) from error


def inbound_row(
    *,
    validated: ValidatedEvent,
    caller: Caller,
    event_id: uuid.UUID,
    payload: dict[str, Any],
    instance: WorkflowInstance | None,
    transition: str,
    received_at: datetime,
    redelivery_of: InboundEvent | None = None,
) -> InboundEvent:
    """The inbound row of an accepted event, not yet saved, its response inside it."""
    envelope = validated.envelope
    status = InboundStatus.ROUTED if instance is not None else InboundStatus.STORED
    response = {
        "id": str(event_id),
        "type": validated.event_type.name,
        "source": validated.source,
        "idempotency_key": validated.key,
        "status": str(status),
        "received_at": received_at.isoformat(),
        "instance": _instance_summary(instance),
        "transition": transition or None,
    }
    return InboundEvent(
        id=event_id,
        received_at=received_at,
        channel=caller.channel,
        source=validated.source,
        idempotency_key=validated.key,
        request_hash=validated.digest,
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
        raise key_in_flight()


def key_in_flight() -> Problem:
    return Problem(
        status=409,
        code="idempotency_key_in_flight",
        title="Request in progress",
        detail="a request with this Idempotency-Key is still being processed; "
        "retry after it finishes to get its response",
        headers={"Retry-After": "1"},
    )


# Asked once per event, nearly always to find nothing: SQL, without the ORM's compiler.
_EXISTING = (
    "SELECT request_hash, response_status, response_body FROM integrations_inboundevent "
    "WHERE source = %s AND idempotency_key = %s"
)


@dataclass(frozen=True)
class StoredAnswer:
    """What the first use of a key stored: its request's hash and its response."""

    request_hash: str
    status: int
    body: dict[str, Any]

    @classmethod
    def from_row(cls, request_hash: str, status: int, body: Any) -> StoredAnswer:
        field = InboundEvent._meta.get_field("response_body")
        return cls(request_hash, status, field.from_db_value(body, None, connection))

    def answer(self, validated: ValidatedEvent) -> IngestResult:
        """The first response again, or 422 when `validated` is not the request that got it."""
        if self.request_hash != validated.digest:
            raise Problem(
                status=422,
                code="idempotency_key_reused",
                title="Idempotency-Key reused with a different body",
                detail=f"the Idempotency-Key {validated.key!r} from {validated.source!r} was "
                "first used with a different request body; use a new key for a new event",
            )
        return IngestResult(status=self.status, body=self.body, replayed=True)


def answer_existing(validated: ValidatedEvent) -> IngestResult | None:
    with connection.cursor() as cursor:
        cursor.execute(_EXISTING, [validated.source, validated.key])
        row = cursor.fetchone()
    if row is None:
        return None
    return StoredAnswer.from_row(*row).answer(validated)


def _route(
    *, validated: ValidatedEvent, caller: Caller, event_id: uuid.UUID, payload: dict[str, Any]
) -> tuple[WorkflowInstance | None, str]:
    binding = validated.binding
    if binding is None:
        return None, ""
    envelope = validated.envelope
    trigger = event_trigger(validated=validated, event_id=event_id)
    if binding.action == BindingAction.START:
        instance = workflow_services.start_workflow(
            workflow=binding.workflow,
            payload=payload,
            trigger=trigger,
            actor=caller.actor,
            correlation_key=envelope.get("correlation_key") or None,
            # Any refusal rolls the whole ingestion transaction back: nothing to keep.
            savepoint=False,
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


def event_trigger(*, validated: ValidatedEvent, event_id: uuid.UUID) -> dict[str, Any]:
    """Which inbound event started or signalled an instance, as its context records it."""
    return {
        "inbound_event": str(event_id),
        "type": validated.event_type.name,
        "source": validated.source,
    }


def routing_problem(error: engine.WorkflowError) -> Problem:
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
