"""Structured logs: one JSON object per line, the request id from the API to the carrier call."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from opscore import logging_config, request_context
from processes.orders.models import Order, OrderState
from tests.conftest import wait_until
from tests.factories import api_key, order_received_event, user_with_perms
from workflows import services
from workflows.models import Execution

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


class CapturedLog:
    """What the process's log handler wrote, rendered by opscore's own formatter."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict]:
        # Every line must parse on its own: that is the format's whole promise.
        return [json.loads(line) for line in self.text.splitlines()]

    def named(self, event: str) -> list[dict]:
        return [line for line in self.lines() if line["event"] == event]


def _capture(log_format: str) -> Iterator[CapturedLog]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging_config.formatter(log_format))
    handler.addFilter(logging_config.RedactSecretPaths())  # as settings.LOGGING's handler has
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield CapturedLog(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        request_context.start()  # nothing bound here reaches the next test


@pytest.fixture
def json_log() -> Iterator[CapturedLog]:
    yield from _capture(logging_config.JSON)


@pytest.fixture
def console_log() -> Iterator[CapturedLog]:
    yield from _capture(logging_config.CONSOLE)


def post_event(body: dict, *, key: str, request_id: str | None = None):
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}", "HTTP_IDEMPOTENCY_KEY": uuid.uuid4().hex}
    if request_id is not None:
        headers["HTTP_X_REQUEST_ID"] = request_id
    return APIClient().post(
        "/api/v1/events", json.dumps(body).encode(), content_type="application/json", **headers
    )


# --- in process ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_accepted_event_logs_json_lines_with_what_became_known(json_log):
    key = api_key(integration="shop")
    request_id = "shop-req-2026.11.29:0001"
    response = post_event(
        order_received_event(correlation_key="SO-LOG-1"), key=key, request_id=request_id
    )

    assert response.status_code == 201, response.content
    assert response.headers["X-Request-ID"] == request_id
    order = Order.objects.get(correlation_key="SO-LOG-1")
    accepted = json_log.named("event.accepted")
    assert len(accepted) == 1
    assert {
        field: accepted[0][field]
        for field in (
            "request_id",
            "integration",
            "actor",
            "correlation_key",
            "workflow",
            "instance",
            "idempotency_key",
            "type",
            "level",
            "logger",
        )
    } == {
        "request_id": request_id,
        "integration": "shop",
        "actor": "integration:shop",
        "correlation_key": "SO-LOG-1",
        "workflow": "order",
        "instance": order.pk,
        "idempotency_key": response.json()["idempotency_key"],
        "type": "order.received",
        "level": "info",
        "logger": "integrations.services",
    }
    scheduled = json_log.named("execution.scheduled")
    execution = Execution.objects.get()
    assert [
        (line["request_id"], line["execution"], line["idempotency_key"]) for line in scheduled
    ] == [(request_id, execution.pk, execution.idempotency_key)]
    # The row keeps the id for every attempt, whoever enqueues the retry.
    assert execution.request_id == request_id
    finished = json_log.named("request.finished")
    assert [(line["request_id"], line["status"], line["path"]) for line in finished] == [
        (request_id, 201, "/api/v1/events")
    ]


@pytest.mark.parametrize(
    "sent",
    [
        "r" * (request_context.REQUEST_ID_MAX_LENGTH + 1),
        "abc\r\nX-Injected: yes",
        'abc" "forged',
        "has space",
        "-starts-with-a-dash",
        "ünïcode",
        "",
    ],
    ids=["oversize", "crlf", "quote", "space", "leading-dash", "non-ascii", "empty"],
)
@pytest.mark.django_db
def test_a_malformed_request_id_is_replaced_never_echoed_or_logged(json_log, sent):
    key = api_key(integration="shop")
    response = post_event(order_received_event(), key=key, request_id=sent)

    assert response.status_code == 201, response.content
    echoed = response.headers["X-Request-ID"]
    assert echoed != sent
    assert GENERATED_ID.fullmatch(echoed)
    lines = json_log.lines()
    assert lines
    assert {line["request_id"] for line in lines} == {echoed}
    if sent:
        assert sent not in json_log.text
        assert json.dumps(sent)[1:-1] not in json_log.text


@pytest.mark.django_db
def test_a_signed_in_person_is_the_actor_of_their_requests_lines(client, json_log):
    viewer = user_with_perms("workflows.view_execution", username="viewer")
    client.force_login(viewer)
    response = client.get("/admin/workflows/execution/", HTTP_X_REQUEST_ID="desk-7")

    assert response.status_code == 200
    (line,) = json_log.named("request.finished")
    assert (line["request_id"], line["actor"], line["status"]) == ("desk-7", "user:viewer", 200)
    client.logout()
    json_log.stream.truncate(0)
    json_log.stream.seek(0)
    client.get("/admin/login/")
    (anonymous,) = json_log.named("request.finished")
    assert "actor" not in anonymous


@pytest.mark.django_db
def test_a_request_without_an_id_gets_a_fresh_one_each_time(client):
    first = client.get("/healthz")
    second = client.get("/healthz")
    assert GENERATED_ID.fullmatch(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.django_db
def test_a_newline_in_input_cannot_forge_a_second_line(client, json_log, console_log):
    forged = '{"timestamp": "2026-11-29T00:00:00Z", "level": "critical", "event": "forged"}'
    # A percent-encoded newline reaches request.path decoded; the access line logs the path.
    client.get("/api/v1/no-such-page%0A" + forged.replace(" ", "%20").replace('"', "%22"))
    # A plain logging call with hostile text in its arguments, as existing code makes them.
    logging.getLogger("approvals.services").warning(
        "notification %s not sent: %s", 7, "x\n" + forged
    )

    lines = json_log.lines()
    # The access line, Django's own "Not Found" warning, the plain call: three, no fourth.
    assert [line["logger"] for line in lines] == [
        "opscore.request_context",
        "django.request",
        "approvals.services",
    ]
    assert lines[2]["event"] == f"notification 7 not sent: x\n{forged}"
    assert "forged" not in {line["event"] for line in lines}
    assert "critical" not in {line["level"] for line in lines}
    # The development format keeps one record to one line as well.
    assert len(console_log.text.splitlines()) == 3
    assert "\n" + forged not in console_log.text


@pytest.mark.django_db
def test_existing_plain_loggers_gain_the_bound_context(json_log):
    request_context.start(request_id="req-1", workflow="order", instance=42)
    logging.getLogger("opscore.probes").warning("not ready: %s", ["cluster"])

    (line,) = json_log.lines()
    assert (line["event"], line["request_id"], line["workflow"], line["instance"]) == (
        "not ready: ['cluster']",
        "req-1",
        "order",
        42,
    )
    assert (line["level"], line["logger"]) == ("warning", "opscore.probes")


def test_an_unknown_log_format_or_level_is_refused_at_start():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="OPSCORE_LOG_FORMAT"):
        logging_config.logging_settings(log_format="xml", level="INFO", levels={})
    with pytest.raises(ImproperlyConfigured, match="LOUD"):
        logging_config.logging_settings(log_format="json", level="LOUD", levels={})


@pytest.mark.django_db
def test_a_retry_run_by_another_task_still_carries_the_scheduling_request_id(carrier, json_log):
    key = api_key(integration="shop")
    request_id = "inbound-0002"
    post_event(
        order_received_event(correlation_key="SO-LOG-2", value=40), key=key, request_id=request_id
    )
    order = Order.objects.get(correlation_key="SO-LOG-2")

    # As the sweeper's task would: another unit of work, with an id of its own.
    sweep_id = request_context.start()
    services.run_execution(execution_id=Execution.objects.get(step="policy.check").pk)
    dispatch = Execution.objects.get(step="dispatch.execute")
    services.run_execution(execution_id=dispatch.pk)

    order.refresh_from_db()
    assert order.state == OrderState.AWAITING_POD
    assert dispatch.request_id == request_id
    assert carrier.ledger.request_ids[dispatch.idempotency_key] == [request_id]
    started = json_log.named("execution.started")
    assert [(line["step"], line["request_id"], line["run_by_request_id"]) for line in started] == [
        ("policy.check", request_id, sweep_id),
        ("dispatch.execute", request_id, sweep_id),
    ]
    # Back outside the step, the task's own id again.
    assert request_context.current_request_id() == sweep_id


def _run_queued_steps() -> None:
    """Each queued step as a worker takes it: the package read back, django-q2's signals."""
    from django_q.models import OrmQ
    from django_q.signing import SignedPackage

    from workflows import jobs

    for row in OrmQ.objects.order_by("id"):
        task = SignedPackage.loads(row.payload)
        request_context.start_job(None, None, task)
        jobs.run_execution(*task["args"])
        request_context.end_job(None, None, task)


@pytest.mark.django_db
def test_a_step_queued_by_a_batch_logs_in_the_worker_as_one_queued_by_a_single_event(json_log):
    key = api_key(integration="shop")
    post_event(order_received_event(correlation_key="SO-ONE"), key=key, request_id="req-single")
    APIClient().post(
        "/api/v1/events:batch",
        json.dumps(
            {
                "events": [
                    {
                        "idempotency_key": uuid.uuid4().hex,
                        "event": order_received_event(correlation_key="SO-BATCH"),
                    }
                ]
            }
        ).encode(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
        HTTP_X_REQUEST_ID="req-batch",
    )
    json_log.stream.truncate(0)
    json_log.stream.seek(0)

    _run_queued_steps()

    single, batched = (
        {line["event"]: line for line in json_log.lines() if line["request_id"] == request_id}
        for request_id in ("req-single", "req-batch")
    )
    assert set(single) == set(batched) >= {"execution.started", "execution.finished"}
    for event, line in single.items():
        assert set(batched[event]) == set(line), event
    one, other = single["execution.started"], batched["execution.started"]
    assert (one["workflow"], one["correlation_key"]) == ("order", "SO-ONE")
    assert (other["workflow"], other["correlation_key"]) == ("order", "SO-BATCH")
    assert other["instance"] == Order.objects.get(correlation_key="SO-BATCH").pk


# --- across processes ----------------------------------------------------------------------


@pytest.mark.worker
def test_the_worker_step_logs_and_sends_the_inbound_request_id(live_db, carrier, qcluster):
    key = api_key(integration="shop")
    request_id = f"edge-{uuid.uuid4()}"
    response = post_event(
        order_received_event(correlation_key="SO-LOG-3", value=40), key=key, request_id=request_id
    )
    assert response.status_code == 201, response.content
    assert response.headers["X-Request-ID"] == request_id
    order = Order.objects.get(correlation_key="SO-LOG-3")

    cluster = qcluster(OPSCORE_LOG_LEVEL="INFO", OPSCORE_LOG_FORMAT="json")
    assert wait_until(
        lambda: Order.objects.get(pk=order.pk).state == OrderState.AWAITING_POD, timeout=60
    ), cluster.log()
    dispatch = Execution.objects.get(step="dispatch.execute")
    assert carrier.ledger.request_ids[dispatch.idempotency_key] == [request_id]

    def step_lines() -> list[dict]:
        lines = [json.loads(line) for line in cluster.log_path.read_text().splitlines()]
        return [line for line in lines if line["event"] == "execution.finished"]

    assert wait_until(lambda: len(step_lines()) == 2, timeout=20), cluster.log()
    by_step = {line["step"]: line for line in step_lines()}
    assert set(by_step) == {"policy.check", "dispatch.execute"}
    for step, line in by_step.items():
        execution = Execution.objects.get(step=step)
        # The task ran under the id it was enqueued with: nothing else to tell.
        assert "run_by_request_id" not in line
        assert (
            line["request_id"],
            line["correlation_key"],
            line["workflow"],
            line["instance"],
            line["execution"],
            line["idempotency_key"],
            line["status"],
        ) == (
            request_id,
            "SO-LOG-3",
            "order",
            order.pk,
            execution.pk,
            execution.idempotency_key,
            "succeeded",
        )
    # One grep follows the order from the inbound request to the carrier call.
    grep = [line for line in cluster.log().splitlines() if request_id in line]
    assert any('"event": "workflow.transition"' in line for line in grep)


@pytest.mark.django_db
def test_a_signed_links_token_never_reaches_the_request_log(client, json_log):
    from approvals.information_links import answer_url
    from approvals.models import ReviewTask
    from tests.factories import order_in_review

    order = order_in_review(value=2400)
    task = ReviewTask.objects.get(instance_id=order.pk)
    url = answer_url(task_id=task.pk, request=1)
    path = url.split("://", 1)[1].partition("/")[2]
    token = path.split("/")[1]

    response = client.get(f"/{path}")

    assert response.status_code in (200, 409)
    (line,) = json_log.named("request.finished")
    assert line["path"] == "/information/[token]/"
    assert token not in json_log.text
    assert "secret_paths" in settings.LOGGING["handlers"]["console"]["filters"]
