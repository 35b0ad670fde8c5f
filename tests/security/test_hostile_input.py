"""Hostile input at the trigger layer's doors: always a precise problem+json 4xx, recorded.

Each case goes through every door that reads it (an API key, a staff session, a signed
webhook), must leave nothing but one `Rejection` row (itself storable on PostgreSQL), and must
leave the server answering the next well-formed request normally.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db.models import Sum
from django.urls import reverse
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from audit.models import Event
from integrations.models import EventType, InboundEvent, Rejection
from opscore.api_errors import Problem, problem_http_response
from processes.orders.models import Order
from tests.factories import api_key, order_context, order_received_event, user_with_perms
from tests.factories import webhook_source as make_webhook_source

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
MARK = "__HOSTILE__"
DEEP = "[" * 10_000 + "]" * 10_000


@dataclass(frozen=True)
class Case:
    """`fragment` is raw JSON text put where `where` says, in place of a valid value."""

    name: str
    where: str  # payload_value | payload_key | source | correlation_key | occurred_at | raw
    fragment: str
    status: int
    code: str
    pointer: str | None = None


CASES = [
    Case("lone_surrogate", "payload_value", '"caf\\ud800"', 400, "unpaired_surrogate", "/customer"),
    Case("lone_low_surrogate_key", "payload_key", '"\\udc00"', 400, "unpaired_surrogate"),
    Case("escaped_nul_value", "payload_value", '"a\\u0000b"', 400, "nul_character", "/customer"),
    Case("escaped_nul_key", "payload_key", '"k\\u0000"', 400, "nul_character"),
    Case("raw_nul_byte", "payload_value", '"a\x00b"', 400, "nul_character"),
    Case("nul_in_source", "source", '"shop\\u0000"', 400, "nul_character", "/source"),
    Case("nul_in_correlation_key", "correlation_key", '"SO\\u0000"', 400, "nul_character"),
    Case("deep_nesting", "payload_value", DEEP, 400, "nesting_too_deep"),
    Case("nan", "payload_value", "NaN", 400, "non_finite_number"),
    Case("infinity", "payload_value", "Infinity", 400, "non_finite_number"),
    Case("minus_infinity", "payload_value", "-Infinity", 400, "non_finite_number"),
    Case("float_overflow", "payload_value", "1e999", 400, "non_finite_number"),
    Case("huge_integer", "payload_value", "9" * 5000, 400, "integer_too_large"),
    Case("impossible_date", "occurred_at", '"2026-13-45T10:00:00Z"', 400, "invalid_envelope"),
    Case("bad_offset", "occurred_at", '"2026-11-25T10:00:00+99:00"', 400, "invalid_envelope"),
    Case("newline_in_key", "correlation_key", '"SO-1\\nBcc: x@evil"', 400, "control_character"),
    Case("tab_in_source", "source", '"sh\\top"', 400, "control_character", "/source"),
    Case("unknown_2mb_field", "payload_value", json.dumps("x" * 2_000_000), 413, "event_too_large"),
    Case("over_upload_limit", "payload_value", json.dumps("x" * 3_000_000), 413, "body_too_large"),
]  # fmt: skip
# A webhook's source is its URL and its envelope is built by the server: no such field to poison.
NOT_FOR_WEBHOOKS = {"source"}

DOORS = ["api_key", "staff_session", "webhook"]


def _params():
    for door in DOORS:
        for case in CASES:
            if door == "webhook" and case.where in NOT_FOR_WEBHOOKS:
                continue
            yield pytest.param(door, case, id=f"{door}-{case.name}")


def _hostile_text(document: dict, case: Case, *, payload_path: list[str], fields: dict) -> str:
    """The document as JSON text with the case's fragment spliced in where it belongs."""
    target = document
    for part in payload_path:
        target = target[part]
    if case.where == "payload_value":
        target["customer"] = MARK
    elif case.where == "payload_key":
        target[MARK] = 1
    else:
        fields[case.where](document)
    return json.dumps(document).replace(json.dumps(MARK), case.fragment)


class Door:
    """One way in, with everything a case needs to send through it and check what it left."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.client = APIClient()
        self.key = api_key(integration="shop", event_types=["*"])
        if kind == "staff_session":
            # A staff member allowed to add inbound events, not a superuser.
            self.client.force_login(user_with_perms("integrations.send_event"))
        if kind == "webhook":
            self.source = make_webhook_source(name="carrier")
            self.secret = self.source.secrets.get().secret

    @property
    def channel(self) -> str:
        return "webhook" if self.kind == "webhook" else "api"

    def text_for(self, case: Case) -> str:
        if self.kind == "webhook":
            context = order_context()
            message = {
                "type": "order.received",
                "timestamp": "2026-11-25T12:00:00Z",
                "data": {**context, "correlation_key": context["order_id"]},
            }
            fields = {
                "correlation_key": lambda doc: doc["data"].__setitem__("correlation_key", MARK),
                "occurred_at": lambda doc: doc.__setitem__("timestamp", MARK),
            }
            return _hostile_text(message, case, payload_path=["data"], fields=fields)
        envelope = order_received_event(source="shop")
        fields = {
            name: (lambda doc, name=name: doc.__setitem__(name, MARK))
            for name in ("source", "correlation_key", "occurred_at")
        }
        return _hostile_text(envelope, case, payload_path=["payload"], fields=fields)

    def send(self, text: str, **extra):
        if self.kind == "webhook":
            msg_id = f"msg_{uuid.uuid4().hex}"
            # One reading of the clock: a second boundary between two would sign another
            # timestamp than the header names.
            now = datetime.now(tz=UTC)
            signature = Webhook(self.secret).sign(msg_id=msg_id, timestamp=now, data=text)
            headers = {
                "HTTP_WEBHOOK_ID": msg_id,
                "HTTP_WEBHOOK_TIMESTAMP": str(int(now.timestamp())),
                "HTTP_WEBHOOK_SIGNATURE": signature,
            }
            path = f"/api/v1/hooks/{self.source.name}/"
        else:
            headers = {"HTTP_IDEMPOTENCY_KEY": uuid.uuid4().hex}
            if self.kind == "api_key":
                headers["HTTP_AUTHORIZATION"] = f"Api-Key {self.key}"
            path = "/api/v1/events"
        return self.client.post(
            path, text.encode(), content_type="application/json", **{**headers, **extra}
        )

    def send_valid(self):
        return self.send(self.text_for(Case("valid", "payload_value", '"fine"', 201, "")))


def _written() -> tuple[int, int, int]:
    return InboundEvent.objects.count(), Order.objects.count(), Event.objects.count()


def _assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert (problem["status"], problem["code"]) == (status, code)
    assert problem["type"] == f"urn:opscore:problem:{code}"
    return problem


@pytest.mark.parametrize(("door_kind", "case"), list(_params()))
def test_hostile_input_is_a_recorded_problem_and_the_server_answers_afterwards(door_kind, case):
    door = Door(door_kind)
    before = _written()

    response = door.send(door.text_for(case))

    problem = _assert_problem(response, case.status, case.code)
    if case.pointer is not None:
        prefix = "/data" if door_kind == "webhook" else "/payload"
        expected = case.pointer if case.where == "source" else f"{prefix}{case.pointer}"
        assert problem["errors"][0]["pointer"] == expected
    assert _written() == before
    rejection = Rejection.objects.get()
    assert (rejection.channel, rejection.status, rejection.problem) == (
        door.channel,
        case.status,
        case.code,
    )
    assert rejection.count == 1
    if door_kind == "api_key":
        assert rejection.integration.name == "shop"
    assert len(rejection.body_excerpt) <= 4096
    assert "\x00" not in rejection.body_excerpt + rejection.detail + json.dumps(rejection.errors)
    assert rejection.detail == problem["detail"][: len(rejection.detail)]

    after = door.send_valid()
    assert after.status_code == 201, after.content[:500]
    assert InboundEvent.objects.count() == before[0] + 1


@pytest.mark.parametrize("door_kind", DOORS)
def test_control_characters_in_the_idempotency_key_are_refused(door_kind):
    door = Door(door_kind)
    header = "HTTP_WEBHOOK_ID" if door_kind == "webhook" else "HTTP_IDEMPOTENCY_KEY"
    text = door.text_for(Case("valid", "payload_value", '"fine"', 201, ""))
    before = _written()
    if door_kind == "webhook":
        # The id is signed: sign the hostile id itself, so only its content is at fault.
        stamp = datetime.now(tz=UTC)
        headers = {
            header: "msg\n1",
            "HTTP_WEBHOOK_TIMESTAMP": str(int(stamp.timestamp())),
            "HTTP_WEBHOOK_SIGNATURE": Webhook(door.secret).sign(
                msg_id="msg\n1", timestamp=stamp, data=text
            ),
        }
        response = door.client.post(
            "/api/v1/hooks/carrier/", text.encode(), content_type="application/json", **headers
        )
    else:
        response = door.send(text, **{header: "key\x00\n1"})

    _assert_problem(response, 400, "idempotency_key_invalid")
    assert _written() == before
    assert "\x00" not in Rejection.objects.get().idempotency_key
    assert door.send_valid().status_code == 201


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/hooks/carrier/"])
def test_a_wrong_host_on_the_api_is_problem_details_recorded_unauthenticated(path):
    key = api_key()
    make_webhook_source(name="carrier")
    before = _written()
    response = APIClient().post(
        path,
        json.dumps(order_received_event()).encode(),
        content_type="application/json",
        HTTP_HOST="evil.example",
        HTTP_IDEMPOTENCY_KEY="k-host",
    )

    _assert_problem(response, 400, "bad_host")
    assert _written() == before
    rejection = Rejection.objects.get()
    assert rejection.channel == ("webhook" if "hooks" in path else "api")
    assert (rejection.authenticated, rejection.client_ip) == (False, "127.0.0.1")
    assert rejection.body_excerpt.startswith('{"type": "order.received"')
    ok = APIClient().post(
        "/api/v1/events",
        json.dumps(order_received_event()).encode(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
        HTTP_IDEMPOTENCY_KEY="k-after",
    )
    assert ok.status_code == 201


def test_a_wrong_host_outside_the_api_keeps_djangos_400_and_records_nothing():
    response = APIClient().get("/admin/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert Rejection.objects.count() == 0
    assert APIClient().get("/admin/login/").status_code == 200


def test_an_oversize_body_is_refused_from_its_length_and_only_an_excerpt_is_kept(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    key = api_key()
    body = json.dumps(order_received_event(customer="y" * 20_000)).encode()
    response = APIClient().post(
        "/api/v1/events",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
        HTTP_IDEMPOTENCY_KEY="k-big",
    )

    problem = _assert_problem(response, 413, "body_too_large")
    assert str(len(body)) in problem["detail"]
    rejection = Rejection.objects.get()
    assert rejection.authenticated
    assert rejection.integration.name == "shop"
    assert rejection.idempotency_key == "k-big"
    assert rejection.body_excerpt == body[:4096].decode()
    assert InboundEvent.objects.count() == 0


def test_the_event_size_limit_is_a_setting(settings):
    key = api_key()
    client = APIClient()
    small = json.dumps(order_received_event(customer="z" * 10)).encode()
    settings.OPSCORE_MAX_EVENT_BYTES = len(small) + 50

    def post(**payload):
        return client.post(
            "/api/v1/events",
            json.dumps(order_received_event(**payload)).encode(),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Api-Key {key}",
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        )

    _assert_problem(post(customer="z" * 190), 413, "event_too_large")
    assert post(customer="z" * 10).status_code == 201


def test_a_problem_quoting_unencodable_text_still_renders():
    """Details quote what was sent: a lone surrogate or NUL there must not crash the answer."""
    problem = Problem(
        status=400,
        code="unknown_event_type",
        detail="no active event type 'x\udfff\x00'",
        errors=[{"pointer": "/type", "detail": "x\ud800", "code": "unknown"}],
    )
    response = problem_http_response(problem, instance="/api/v1/events")
    body = json.loads(response.content)
    assert body["detail"] == "no active event type 'x\ufffd\ufffd'"
    assert body["errors"][0]["detail"] == "x\ufffd"


# --- unauthenticated junk is aggregated ----------------------------------------------------


def _junk_event(client: APIClient, *, ip: str = "203.0.113.7"):
    return client.post(
        "/api/v1/events",
        b'{"junk": true}',
        content_type="application/json",
        HTTP_AUTHORIZATION="Api-Key opk_nope_nope",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        REMOTE_ADDR=ip,
    )


def test_a_thousand_unauthenticated_junk_requests_leave_a_bounded_number_of_rows(settings):
    settings.OPSCORE_REJECTION_BURST = 5
    client = APIClient()
    for _ in range(1000):
        response = _junk_event(client)
        assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM

    rows = Rejection.objects.filter(problem="authentication_failed")
    assert rows.count() == 5
    assert rows.aggregate(total=Sum("count"))["total"] == 1000
    assert set(rows.values_list("authenticated", "client_ip", "channel").distinct()) == {
        (False, "203.0.113.7", "api")
    }
    newest = rows.order_by("-received_at", "-pk").first()
    assert newest.count == 996
    assert newest.last_seen_at >= newest.received_at
    # Another address has its own allowance; an authenticated caller still gets in.
    _junk_event(client, ip="198.51.100.9")
    assert Rejection.objects.filter(client_ip="198.51.100.9").count() == 1
    ok = client.post(
        "/api/v1/events",
        json.dumps(order_received_event()).encode(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {api_key()}",
        HTTP_IDEMPOTENCY_KEY="k-ok",
    )
    assert ok.status_code == 201


def test_bad_webhook_signatures_and_unknown_sources_aggregate_per_client_and_problem(settings):
    settings.OPSCORE_REJECTION_BURST = 3
    make_webhook_source(name="carrier")
    client = APIClient()
    for number in range(40):
        for path in ("/api/v1/hooks/carrier/", "/api/v1/hooks/nobody/"):
            response = client.post(
                path,
                b"{}",
                content_type="application/json",
                HTTP_WEBHOOK_ID=f"msg_{number}",
                HTTP_WEBHOOK_TIMESTAMP="1",
                HTTP_WEBHOOK_SIGNATURE="v1,AAAA",
            )
            assert response.status_code in (401, 404)
    for code in ("bad_signature", "unknown_webhook_source"):
        rows = Rejection.objects.filter(problem=code, channel="webhook")
        assert rows.count() == 3
        assert rows.aggregate(total=Sum("count"))["total"] == 40


def test_the_window_passing_starts_new_rows(settings):
    settings.OPSCORE_REJECTION_BURST = 2
    settings.OPSCORE_REJECTION_WINDOW_SECONDS = 60
    client = APIClient()
    for _ in range(5):
        _junk_event(client)
    assert Rejection.objects.count() == 2
    with time_machine.travel(datetime.now(tz=UTC) + timedelta(seconds=61)):
        _junk_event(client)
    assert Rejection.objects.count() == 3
    assert Rejection.objects.aggregate(total=Sum("count"))["total"] == 6


def test_an_authenticated_callers_refusals_are_one_row_each(settings):
    settings.OPSCORE_REJECTION_BURST = 2
    key = api_key()
    client = APIClient()
    for _ in range(12):
        response = client.post(
            "/api/v1/events",
            b'{"not": "an event"',
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Api-Key {key}",
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        )
        assert response.status_code == 400
    rows = Rejection.objects.filter(problem="bad_json")
    assert rows.count() == 12
    assert set(rows.values_list("count", "authenticated")) == {(1, True)}


@pytest.mark.parametrize(
    ("fragment", "code"),
    [(DEEP, "nesting_too_deep"), ('{"inputs": {"a": "\\u0000"}}', "nul_character")],
)
def test_every_other_json_endpoint_is_held_to_the_same_rules(fragment, code):
    client = APIClient()
    client.force_login(user_with_perms("decisions.view_ruleset"))
    response = client.post(
        "/api/v1/decisions/carrier/evaluate", fragment.encode(), content_type="application/json"
    )
    _assert_problem(response, 400, code)
    # Well-formed, it reaches the view: no such rule set here, so the view's own 404.
    after = client.post(
        "/api/v1/decisions/carrier/evaluate",
        json.dumps({"inputs": {"weight_kg": 2}}).encode(),
        content_type="application/json",
    )
    _assert_problem(after, 404, "not_found")


@pytest.mark.parametrize(
    ("correlation_key", "payload", "shown", "rejected"),
    [
        ("SO-DEEP", DEEP, "nests deeper than 64", None),
        ("SO-BIG", '{"n": ' + "9" * 5000 + "}", "at most 4300 digits", None),
        ("SO-1\r\nBcc: x@evil.example", None, "control characters", "control_character"),
    ],
    ids=["deep_nesting", "huge_integer", "newline_in_correlation_key"],
)
def test_the_admins_manual_start_refuses_the_same_input_with_a_form_error(
    client, correlation_key, payload, shown, rejected
):
    client.force_login(user_with_perms("integrations.start_workflow_manually"))
    form = {
        "event_type": EventType.objects.get(name="order.received").pk,
        "correlation_key": correlation_key,
        "payload": payload or json.dumps(order_context()),
        "idempotency_key": uuid.uuid4().hex,
        "opened_at": "2026-11-25 12:00:00",
    }
    before = _written()
    response = client.post(reverse("admin:integrations_manual_start"), form)

    assert response.status_code == 200
    assert shown in response.content.decode()
    assert _written() == before
    assert list(Rejection.objects.values_list("problem", flat=True)) == (
        [rejected] if rejected else []
    )
