"""POST /api/v1/events:batch: each item answered as alone; a bad item never costs the good ones."""

import json
import uuid

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from audit.models import Event
from integrations.api import REPLAY_HEADER
from integrations.models import InboundEvent, Rejection
from tests.factories import api_key, order_received_event, refund_requested_event, start_order
from workflows import registry
from workflows.models import Execution

pytestmark = pytest.mark.django_db

BATCH = "/api/v1/events:batch"


@pytest.fixture
def key(db) -> str:
    return api_key()


def send(key: str | None, raw: bytes | dict):
    body = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"} if key else {}
    return APIClient().post(BATCH, body, content_type="application/json", **headers)


def item(event: dict, key: str | None = None) -> dict:
    return {"idempotency_key": key or uuid.uuid4().hex, "event": event}


def _orders():
    return registry.get("order").model.objects


def _stored() -> tuple[int, int, int]:
    return InboundEvent.objects.count(), _orders().count(), Event.objects.count()


def test_every_event_of_a_batch_is_stored_routed_and_answered_in_order(key):
    events = [order_received_event(correlation_key=f"SO-{n}") for n in range(3)]
    response = send(key, {"events": [item(event) for event in events]})

    assert response.status_code == 207, response.content
    data = response.json()
    assert (data["accepted"], data["replayed"], data["refused"]) == (3, 0, 0)
    assert [result["index"] for result in data["results"]] == [0, 1, 2]
    for n, result in enumerate(data["results"]):
        assert result["status"] == 201
        assert result["replayed"] is False
        assert result["body"]["instance"]["correlation_key"] == f"SO-{n}"
        assert result["body"]["status"] == "routed"
    assert _orders().filter(correlation_key__startswith="SO-").count() == 3
    assert Event.objects.filter(type="workflow.started").count() == 3
    call_command("verify_audit", "--quiet")


def test_bad_items_are_refused_and_recorded_one_by_one_and_the_good_ones_kept(key):
    good, replay_key = order_received_event(correlation_key="SO-GOOD"), "replay-1"
    first = order_received_event(correlation_key="SO-R")
    assert send(key, {"events": [item(first, replay_key)]}).status_code == 207
    schema_violation = order_received_event(correlation_key="SO-BAD")
    del schema_violation["payload"]["order_id"]
    nul = order_received_event(correlation_key="SO-NUL")
    nul["payload"]["customer"] = "bad\x00name"
    deep: dict = {}
    cursor = deep
    for _ in range(70):
        cursor["x"] = {}
        cursor = cursor["x"]
    too_deep = order_received_event(correlation_key="SO-DEEP")
    too_deep["payload"]["notes"] = deep
    rejections_before = Rejection.objects.count()

    response = send(
        key,
        {
            "events": [
                item(schema_violation),
                item(good),
                {"event": order_received_event()},  # no idempotency key
                "not an event",  # nor a key
                item(nul),
                item(first, replay_key),
                item(too_deep),
                item(order_received_event(correlation_key="SO-GOOD")),  # key taken by item 1
            ]
        },
    )

    assert response.status_code == 207, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == [400, 201, 400, 400, 400, 201, 400, 409]
    codes = [r.get("problem", {}).get("code") for r in results]
    assert codes == [
        "schema_violation",
        None,
        "idempotency_key_missing",
        "idempotency_key_missing",
        "nul_character",
        None,
        "nesting_too_deep",
        "correlation_key_taken",
    ]
    assert results[5]["replayed"] is True
    assert all(
        r["problem"]["type"].startswith("urn:opscore:problem:") for r in results if "problem" in r
    )
    assert _orders().filter(correlation_key="SO-GOOD").count() == 1
    assert not _orders().filter(correlation_key__in=["SO-BAD", "SO-NUL", "SO-DEEP"]).exists()
    assert Rejection.objects.count() == rejections_before + 6
    call_command("verify_audit", "--quiet")


def test_the_same_key_twice_in_one_batch_replays_or_refuses_a_changed_body(key):
    event = order_received_event(correlation_key="SO-TWICE")
    changed = {**event, "payload": {**event["payload"], "value": 1}}
    response = send(key, {"events": [item(event, "k-1"), item(event, "k-1"), item(changed, "k-1")]})
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 201, 422]
    assert results[1]["replayed"] is True
    assert results[1]["body"] == results[0]["body"]
    assert results[2]["problem"]["code"] == "idempotency_key_reused"
    assert InboundEvent.objects.filter(idempotency_key="k-1").count() == 1


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (
            b'{"events": [{"idempotency_key": "a", "event": {"value": NaN}}]}',
            400,
            "non_finite_number",
        ),
        (b'{"events": [\x00]}', 400, "nul_character"),
        (b'{"events": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, "nesting_too_deep"),
        (b"[]", 400, "invalid_batch"),
        (b'{"events": []}', 400, "invalid_batch"),
        (b'{"events": [], "extra": 1}', 400, "invalid_batch"),
        (b"not json", 400, "bad_json"),
    ],
)
def test_an_unreadable_batch_is_refused_whole_and_recorded(key, raw, status, code):
    before, rejections_before = _stored(), Rejection.objects.count()
    response = send(key, raw)
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    assert _stored() == before
    assert Rejection.objects.count() == rejections_before + 1


def test_too_many_items_or_too_many_bytes_are_refused_whole(key, settings):
    settings.OPSCORE_MAX_BATCH_EVENTS = 3
    before = _stored()
    response = send(key, {"events": [item(order_received_event()) for _ in range(4)]})
    assert response.status_code == 413
    assert response.json()["code"] == "batch_too_large"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    response = send(key, {"events": [item(order_received_event()) for _ in range(10)]})
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    assert _stored() == before
    assert Rejection.objects.filter(problem__in=["batch_too_large", "body_too_large"]).count() == 2


def test_a_key_without_events_write_or_without_the_event_type_is_refused(db):
    read_only = api_key(scopes=["inbound:read"])
    narrow = api_key(integration="shop", event_types=["shipment.delivered"])
    before = _stored()
    assert send(read_only, {"events": [item(order_received_event())]}).status_code == 403
    assert send(None, {"events": [item(order_received_event())]}).status_code == 401
    response = send(narrow, {"events": [item(order_received_event())]})
    assert response.status_code == 207
    assert response.json()["results"][0]["problem"]["code"] == "event_type_not_allowed"
    assert _stored() == before


def _answers(response) -> list[tuple]:
    """What a sender reads of each answer (ids and times aside)."""
    answers = []
    for result in response.json()["results"]:
        body = result.get("body") or {}
        instance = body.get("instance") or {}
        answers.append(
            (
                result["status"],
                result.get("replayed"),
                result.get("problem", {}).get("code"),
                body.get("status"),
                body.get("transition"),
                instance.get("correlation_key"),
                instance.get("state"),
            )
        )
    return answers


def _one_by_one(key: str, items: list[dict]) -> list[tuple]:
    """The answers the single endpoint gives the same items in turn, then undone."""
    answers = []
    with transaction.atomic():
        for entry in items:
            headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
            if isinstance(entry, dict) and "idempotency_key" in entry:
                headers["HTTP_IDEMPOTENCY_KEY"] = entry["idempotency_key"]
            response = APIClient().post(
                "/api/v1/events",
                json.dumps(entry.get("event", {})),
                content_type="application/json",
                **headers,
            )
            data = response.json()
            fields = {"body": data} if response.status_code < 400 else {"problem": data}
            answers.append(
                {
                    "status": response.status_code,
                    "replayed": response.headers.get(REPLAY_HEADER) == "true",
                    **fields,
                }
            )
        transaction.set_rollback(True)
    return [
        (
            answer["status"],
            answer.get("body") and answer["replayed"],
            answer.get("problem", {}).get("code"),
            (answer.get("body") or {}).get("status"),
            (answer.get("body") or {}).get("transition"),
            ((answer.get("body") or {}).get("instance") or {}).get("correlation_key"),
            ((answer.get("body") or {}).get("instance") or {}).get("state"),
        )
        for answer in answers
    ]


def test_a_mixed_batch_answers_every_item_as_the_single_endpoint_would_in_turn(key):
    sent, reused = (
        order_received_event(correlation_key="SO-SENT"),
        order_received_event(correlation_key="SO-REUSED"),
    )
    assert send(key, {"events": [item(sent, "sent"), item(reused, "reused")]}).status_code == 207
    start_order(correlation_key="SO-OLD")
    waiting = start_order(correlation_key="SO-WAITING")
    _orders().filter(pk=waiting.pk).update(state="awaiting_pod")
    new = order_received_event(correlation_key="SO-NEW")
    invalid = order_received_event(correlation_key="SO-INVALID")
    del invalid["payload"]["order_id"]
    pod = {
        "type": "shipment.delivered",
        "source": "shop",
        "occurred_at": "2026-11-25T12:00:00Z",
        "correlation_key": "SO-WAITING",
        "payload": {"tracking_number": "TRK1"},
    }
    items = [
        item(new, "new"),
        item(invalid),
        item(sent, "sent"),  # a replay
        item({**reused, "payload": {**reused["payload"], "value": 7}}, "reused"),
        item(order_received_event(correlation_key="SO-OLD")),  # taken before the batch
        item(new, "new"),  # the same key twice: the first answer again
        item({**new, "payload": {**new["payload"], "value": 1}}, "new"),
        item(order_received_event(correlation_key="SO-NEW")),  # taken by the first item
        item(refund_requested_event(amount=20)),  # another workflow, personal data sealed
        item(pod),  # a signal, through the one-by-one path
        item({**order_received_event(correlation_key="SO-ELSE"), "source": "else"}),
        item(order_received_event(correlation_key="SO-LAST", email="last@example.test")),
    ]
    expected = _one_by_one(key, items)
    before = (InboundEvent.objects.count(), _orders().count(), Rejection.objects.count())
    history_before = _orders().model.history.count()

    response = send(key, {"events": items})

    assert response.status_code == 207, response.content
    assert _answers(response) == expected
    statuses = [r["status"] for r in response.json()["results"]]
    assert statuses == [201, 400, 201, 422, 409, 201, 422, 409, 201, 201, 403, 201]
    assert response.json()["results"][9]["body"]["instance"]["state"] == "completed"
    data = response.json()
    assert (data["accepted"], data["replayed"], data["refused"]) == (4, 2, 6)
    assert (InboundEvent.objects.count(), _orders().count(), Rejection.objects.count()) == (
        before[0] + 4,
        before[1] + 2,
        before[2] + 6,
    )
    assert not _orders().filter(correlation_key__in=["SO-INVALID", "SO-ELSE"]).exists()
    assert _orders().filter(correlation_key="SO-NEW").count() == 1
    started = _orders().filter(correlation_key__in=["SO-NEW", "SO-LAST"])
    assert _orders().model.history.count() == history_before + 2 + 1  # + the signal's
    for order in started:
        assert list(order.history.values_list("history_type", "state")) == [("+", "received")]
        assert order.context["input"]["customer"].startswith("pii:v1:")
    refund = registry.get("refund").model.objects.get()
    assert refund.context["input"]["email"].startswith("pii:v1:")
    assert Event.objects.filter(type="workflow.started").count() == 2 + 2 + 2 + 1
    call_command("verify_audit", "--quiet")


def test_a_batch_costs_the_same_statements_whatever_its_size(key):
    def statements(size: int, run: str) -> int:
        events = [item(order_received_event(correlation_key=f"{run}-{n}")) for n in range(size)]
        with CaptureQueriesContext(connection) as captured:
            response = send(key, {"events": events})
        assert [r["status"] for r in response.json()["results"]] == [201] * size
        return len(captured)

    statements(2, "warm")
    ten, fifty = statements(10, "ten"), statements(50, "fifty")
    assert ten == fifty
    assert ten < 30
    assert Execution.objects.filter(status="pending").count() == 62
    call_command("verify_audit", "--quiet")


def test_a_signal_and_a_start_sharing_a_correlation_key_are_taken_in_batch_order(key):
    pod = {
        "type": "shipment.delivered",
        "source": "shop",
        "occurred_at": "2026-11-25T12:00:00Z",
        "correlation_key": "SO-BOTH",
        "payload": {"tracking_number": "TRK1"},
    }
    items = [item(pod), item(order_received_event(correlation_key="SO-BOTH")), item(pod)]
    expected = _one_by_one(key, items)

    response = send(key, {"events": items})

    assert _answers(response) == expected
    codes = [r.get("problem", {}).get("code") for r in response.json()["results"]]
    assert codes == ["instance_not_found", None, "illegal_transition"]
    assert _orders().get(correlation_key="SO-BOTH").state == "received"
    call_command("verify_audit", "--quiet")


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="keys in flight are advisory locks on PostgreSQL"
)
def test_an_item_whose_key_another_request_holds_gets_409_and_the_others_go_in(key):
    import psycopg

    from integrations.digests import advisory_lock_id
    from tests.conftest import subprocess_database_url

    held = psycopg.connect(subprocess_database_url())
    try:
        # Another request, mid-transaction, with the key "busy".
        held.execute(
            "SELECT pg_advisory_xact_lock(%s)",
            [advisory_lock_id(source="shop", idempotency_key="busy")],
        )
        response = send(
            key,
            {
                "events": [
                    item(order_received_event(correlation_key="SO-FREE")),
                    item(order_received_event(correlation_key="SO-BUSY"), "busy"),
                    item(order_received_event(correlation_key="SO-BUSY"), "busy"),
                ]
            },
        )
    finally:
        held.rollback()
        held.close()

    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 409, 409]
    assert results[1]["problem"]["code"] == "idempotency_key_in_flight"
    assert _orders().filter(correlation_key="SO-FREE").exists()
    assert not _orders().filter(correlation_key="SO-BUSY").exists()
    assert not InboundEvent.objects.filter(idempotency_key="busy").exists()


def test_a_clash_no_check_saw_undoes_the_bulk_work_and_each_item_is_answered_alone(
    key, monkeypatch
):
    from integrations.services import batch

    start_order(correlation_key="SO-RACED")
    items = [
        item(order_received_event(correlation_key="SO-FIRST")),
        item(order_received_event(correlation_key="SO-RACED")),
        item(order_received_event(correlation_key="SO-THIRD")),
    ]
    expected = _one_by_one(key, items)
    # As if another request took the key between the check and the insert.
    monkeypatch.setattr(batch, "_correlation_keys_taken", lambda items: set())
    events_before = Event.objects.count()

    response = send(key, {"events": items})

    assert _answers(response) == expected
    assert [r["status"] for r in response.json()["results"]] == [201, 409, 201]
    assert _orders().filter(correlation_key="SO-RACED").count() == 1
    assert _orders().filter(correlation_key__in=["SO-FIRST", "SO-THIRD"]).count() == 2
    assert InboundEvent.objects.count() == 2
    # Two starts, each with its scheduled step: nothing of the undone bulk attempt remains.
    assert Event.objects.count() == events_before + 4
    call_command("verify_audit", "--quiet")
