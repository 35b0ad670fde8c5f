"""Many events in one request (`POST /api/v1/events:batch`), each answered as if sent alone.

Per-item semantics: every item has its own idempotency key, validation, deduplication,
routing and answer (status and body, or problem details and a recorded rejection), the ones
`ingest_event` would give the items sent one after the other. A refused item writes nothing
but its rejection and leaves the others in place; the accepted ones commit together in one
transaction, so their log events join the chain under one lock at one commit. Only what
concerns the whole request refuses the whole request: unreadable JSON, a body that is not
`{"events": [...]}`, more than `OPSCORE_MAX_BATCH_EVENTS` items.

The database work is done for all items together (`_store_and_route_all`), so a batch costs
about as many statements as a single event, whatever its size.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from integrations.digests import advisory_lock_id
from integrations.models import BindingAction
from integrations.services.ingestion import (
    Caller,
    IngestResult,
    StoredAnswer,
    ValidatedEvent,
    bind_caller,
    event_trigger,
    inbound_row,
    ingest_validated,
    key_in_flight,
    log_answer,
    read_event,
    refuse,
    routing_problem,
)
from integrations.services.rejections import record_rejection
from opscore import json_input, request_context
from opscore.api_errors import Problem, json_input_problem
from opscore.bulk_insert import insert_rows
from privacy import sealing
from workflows import engine, registry
from workflows import services as workflow_services
from workflows.models import WorkflowInstance


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

    Items are read and validated one by one; what needs the database is done for all the
    valid ones together (see `_store_and_route_all`), so a batch costs about as many
    statements as one event, whatever its size.
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
    answers: dict[int, IngestResult | Problem] = {}
    readable: list[_Item] = []
    bind_caller(caller)
    with transaction.atomic():
        for index, item in enumerate(items):
            event_body, key = _item_parts(item)
            with request_context.scope(batch_item=index):
                try:
                    validated = read_event(
                        body=event_body, idempotency_key=key, caller=caller, client_ip=client_ip
                    )
                except Problem as problem:
                    answers[index] = problem
                    continue
            readable.append(_Item(index=index, body=event_body, validated=validated))
        answers.update(_store_and_route_all(items=readable, caller=caller, client_ip=client_ip))
    outcome = BatchResult()
    for index in range(len(items)):
        answer = answers[index]
        if isinstance(answer, Problem):
            outcome.results.append(
                {"index": index, "status": answer.status_code, "problem": answer.as_problem()}
            )
            continue
        outcome.accepted.append(answer)
        outcome.results.append(
            {
                "index": index,
                "status": answer.status,
                "replayed": answer.replayed,
                "body": answer.body,
            }
        )
    return outcome


@dataclass(frozen=True)
class _Item:
    """A readable item: its place in the batch, its event's bytes, the event validated."""

    index: int
    body: bytes
    validated: ValidatedEvent

    @property
    def key(self) -> str:
        return self.validated.key

    @property
    def correlation_key(self) -> str | None:
        return self.validated.envelope.get("correlation_key") or None

    @property
    def action(self) -> str | None:
        binding = self.validated.binding
        return binding.action if binding is not None else None

    @property
    def workflow(self) -> str:
        binding = self.validated.binding
        return binding.workflow if binding is not None else ""

    def log_scope(self):
        return request_context.scope(
            batch_item=self.index, idempotency_key=self.key, correlation_key=self.correlation_key
        )


Answer = IngestResult | Problem


def _store_and_route_all(
    *, items: list[_Item], caller: Caller, client_ip: str | None
) -> dict[int, Answer]:
    """Store and route the valid items, each answered as `ingest_event` would in turn.

    A handful of statements for the whole batch: the idempotency keys locked (one statement,
    on PostgreSQL) and looked up (one), the correlation keys to take checked (one per
    workflow), then in a savepoint the subjects found or created (one to three), the instances
    started (`start_workflows`, per workflow) and the inbound rows inserted (one). A key used
    again later in the batch is answered from its first use, as the loop would answer it.

    What this path cannot answer exactly as the loop would goes through `ingest_validated`,
    one item at a time in batch order: signals, a key used again after its first use was
    refused, and every item when one of those shares a correlation key with a start (which
    one wins depends on the order) or when the savepoint fails on a clash no check saw.
    """
    answers: dict[int, Answer] = {}
    firsts: dict[str, _Item] = {}
    repeats: list[_Item] = []
    for item in items:
        if item.key in firsts:
            repeats.append(item)
        else:
            firsts[item.key] = item
    in_flight = _lock_keys(list(firsts.values()))
    stored = _stored_answers([item for item in firsts.values() if item.key not in in_flight])
    fresh: list[_Item] = []
    for item in firsts.values():
        if item.key in in_flight:
            answers[item.index] = key_in_flight()
        elif item.key in stored:
            answers[item.index] = _answer_from(stored[item.key], item)
        else:
            fresh.append(item)
    taken = _correlation_keys_taken([i for i in fresh if i.action == BindingAction.START])
    bulk: list[_Item] = []
    one_by_one: list[_Item] = []
    for item in fresh:
        clash = (item.workflow, item.correlation_key)
        if item.action not in (None, BindingAction.START):  # a signal
            one_by_one.append(item)
        elif item.action == BindingAction.START and item.correlation_key and clash in taken:
            answers[item.index] = _correlation_key_taken(*clash)
        else:
            if item.action == BindingAction.START and item.correlation_key:
                taken.add(clash)  # the first in the batch takes it; a later one is refused
            bulk.append(item)
    in_bulk = {item.key for item in bulk}
    follow_bulk: list[_Item] = []
    for item in repeats:
        if item.key in in_flight:
            answers[item.index] = key_in_flight()
        elif item.key in stored:
            answers[item.index] = _answer_from(stored[item.key], item)
        elif item.key in in_bulk:
            follow_bulk.append(item)
        else:
            one_by_one.append(item)  # its first use was refused or is a signal: tried afresh
    starting = {i.correlation_key for i in fresh if i.action == BindingAction.START}
    if any(item.correlation_key and item.correlation_key in starting for item in one_by_one):
        # Who takes a shared correlation key, or finds the instance to signal, depends on
        # the order of the items: the loop's order decides.
        return _ingest_one_by_one(items, caller=caller, client_ip=client_ip)
    try:
        with transaction.atomic():
            answers.update(_store_in_bulk(bulk, caller=caller))
    except (IntegrityError, engine.DuplicateCorrelationKey):
        # A key or a correlation key taken meanwhile: nothing of the bulk stays, and every
        # item finds out on its own, in order.
        return _ingest_one_by_one(items, caller=caller, client_ip=client_ip)
    for item in follow_bulk:
        first = firsts[item.key]
        result = answers[first.index]
        answers[item.index] = _answer_from(
            StoredAnswer(first.validated.digest, result.status, result.body), item
        )
    for item in items:
        if item.index in answers:
            _settle(item, answers[item.index], caller=caller, client_ip=client_ip)
    answers.update(_ingest_one_by_one(one_by_one, caller=caller, client_ip=client_ip))
    return answers


def _settle(item: _Item, answer: Answer, *, caller: Caller, client_ip: str | None) -> None:
    """What `ingest_validated` does with its answer: log it, or record the refusal."""
    with item.log_scope():
        if isinstance(answer, Problem):
            refuse(
                problem=answer,
                caller=caller,
                body=item.body,
                document=item.validated.envelope,
                idempotency_key=item.key,
                client_ip=client_ip,
            )
        else:
            log_answer(result=answer, caller=caller, validated=item.validated)


def _ingest_one_by_one(
    items: list[_Item], *, caller: Caller, client_ip: str | None
) -> dict[int, Answer]:
    answers: dict[int, Answer] = {}
    for item in sorted(items, key=lambda item: item.index):
        with item.log_scope():
            try:
                answers[item.index] = ingest_validated(
                    validated=item.validated, caller=caller, body=item.body, client_ip=client_ip
                )
            except Problem as problem:
                answers[item.index] = problem
    return answers


def _answer_from(stored: StoredAnswer, item: _Item) -> Answer:
    try:
        return stored.answer(item.validated)
    except Problem as problem:
        return problem


def _lock_keys(items: list[_Item]) -> set[str]:
    """The keys another transaction holds (see `ingestion._lock_key`), all asked at once."""
    if connection.vendor != "postgresql" or not items:
        return set()
    keys_by_lock: dict[int, list[str]] = {}
    for item in items:
        lock = advisory_lock_id(source=item.validated.source, idempotency_key=item.key)
        keys_by_lock.setdefault(lock, []).append(item.key)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lock, pg_try_advisory_xact_lock(lock) FROM unnest(%s::bigint[]) AS t(lock)",
            [list(keys_by_lock)],
        )
        refused = [lock for lock, acquired in cursor.fetchall() if not acquired]
    return {key for lock in refused for key in keys_by_lock[lock]}


def _stored_answers(items: list[_Item]) -> dict[str, StoredAnswer]:
    """What the first use of each key stored, for the keys used before (one query)."""
    if not items:
        return {}
    # One caller per batch, hence one namespace.
    source = items[0].validated.source
    keys = [item.key for item in items]
    placeholders = ", ".join(["%s"] * len(keys))
    query = (
        "SELECT idempotency_key, request_hash, response_status, response_body "  # noqa: S608 - placeholders only
        f"FROM integrations_inboundevent WHERE source = %s AND idempotency_key IN ({placeholders})"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, [source, *keys])
        rows = cursor.fetchall()
    return {key: StoredAnswer.from_row(*answer) for key, *answer in rows}


def _correlation_keys_taken(items: list[_Item]) -> set[tuple[str, str]]:
    """(workflow, correlation key) pairs of these starts that an instance already holds."""
    wanted: dict[str, set[str]] = {}
    for item in items:
        if item.correlation_key:
            wanted.setdefault(item.workflow, set()).add(item.correlation_key)
    taken = set()
    for workflow, keys in wanted.items():
        model = registry.get(workflow).model
        found = model.objects.filter(correlation_key__in=keys).values_list(
            "correlation_key", flat=True
        )
        taken.update((workflow, key) for key in found)
    return taken


def _correlation_key_taken(workflow: str, correlation_key: str) -> Problem:
    return routing_problem(
        engine.DuplicateCorrelationKey(
            f"a {registry.get(workflow).name} with correlation key {correlation_key!r} "
            "already exists"
        )
    )


def _store_in_bulk(items: list[_Item], *, caller: Caller) -> dict[int, IngestResult]:
    """Seal, start and store these items (starts or no routing at all) together."""
    if not items:
        return {}
    event_ids = {item.index: uuid.uuid4() for item in items}
    # Validated as sent, stored sealed, as one by one (`store_and_route`).
    payloads = dict(
        zip(
            (item.index for item in items),
            sealing.seal_payloads(
                [
                    sealing.Unsealed(
                        schema=item.validated.event_type.schema,
                        payload=item.validated.envelope["payload"],
                        fallback_ref=f"event:{event_ids[item.index]}",
                    )
                    for item in items
                ]
            ),
            strict=True,
        )
    )
    starts: dict[str, list[_Item]] = {}
    for item in items:
        if item.action == BindingAction.START:
            starts.setdefault(item.workflow, []).append(item)
    instances: dict[int, WorkflowInstance] = {}
    for workflow, group in starts.items():
        started = workflow_services.start_workflows(
            workflow=workflow,
            starts=[
                workflow_services.WorkflowStart(
                    payload=payloads[item.index],
                    correlation_key=item.correlation_key,
                    trigger=event_trigger(validated=item.validated, event_id=event_ids[item.index]),
                )
                for item in group
            ],
            actor=caller.actor,
            savepoint=False,
        )
        instances.update(zip((item.index for item in group), started, strict=True))
    received_at = timezone.now()
    rows = [
        inbound_row(
            validated=item.validated,
            caller=caller,
            event_id=event_ids[item.index],
            payload=payloads[item.index],
            instance=instances.get(item.index),
            transition="",
            received_at=received_at,
        )
        for item in items
    ]
    insert_rows(rows)
    return {
        item.index: IngestResult(status=201, body=row.response_body, replayed=False)
        for item, row in zip(items, rows, strict=True)
    }
