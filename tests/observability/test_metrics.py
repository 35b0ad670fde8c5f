"""GET /metrics: Prometheus text, bearer token, counters that move by exactly the work done."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from audit.models import Event
from tests.factories import api_key, order_received_event, start_order
from tests.workflows.drain import drain_executions
from workflows.models import Execution
from workflows.models.execution import ExecutionStatus

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-for-tests"


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.OPSCORE_METRICS_TOKEN = TOKEN


def scrape(client: APIClient) -> dict[tuple[str, tuple], float]:
    """Every sample of a scrape, keyed by name and sorted labels; parsed by prometheus_client."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def delta(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def post_event(client: APIClient, key: str, body: dict, idempotency_key: str):
    return client.post(
        "/api/v1/events",
        json.dumps(body).encode(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
        HTTP_IDEMPOTENCY_KEY=idempotency_key,
    )


def test_ingest_counters_move_by_exactly_the_requests_made(django_capture_on_commit_callbacks):
    client = APIClient()
    key = api_key()
    before = scrape(client)
    events_before = Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    first_key = uuid.uuid4().hex
    first_body = order_received_event()
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(client, key, first_body, first_key).status_code == 201
        for _ in range(2):
            assert (
                post_event(client, key, order_received_event(), uuid.uuid4().hex).status_code == 201
            )
        replay = post_event(client, key, first_body, first_key)
        assert replay.status_code == 201
        assert replay["Idempotent-Replayed"] == "true"
        invalid = {**order_received_event(), "type": 7}
        refused = post_event(client, key, invalid, uuid.uuid4().hex)
        assert refused.status_code == 400
    after = scrape(client)
    code = refused.json()["code"]

    assert delta(before, after, "opscore_ingest_requests_total", channel="api") == 5
    assert delta(before, after, "opscore_ingest_accepted_total", channel="api") == 3
    assert delta(before, after, "opscore_ingest_replayed_total", channel="api") == 1
    assert delta(before, after, "opscore_ingest_rejected_total", channel="api", problem=code) == 1
    assert delta(before, after, "opscore_ingest_latency_seconds_count", channel="api") == 5
    appended = Event.objects.filter(seq__gt=events_before).count()
    assert appended > 0
    assert delta(before, after, "opscore_audit_events_appended_total") == appended
    assert after[("opscore_audit_chain_head_seq", ())] == Event.objects.latest("seq").seq


def test_transitions_and_dead_letters_count_committed_work_only(
    carrier, django_capture_on_commit_callbacks
):
    client = APIClient()
    before = scrape(client)
    events_before = Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    with django_capture_on_commit_callbacks(execute=True):
        start_order()
        broken = start_order(value="not a number")  # policy.check refuses it: a dead letter
        drain_executions()
    after = scrape(client)

    transitions = Event.objects.filter(seq__gt=events_before, type="workflow.transition")
    assert transitions.exists()
    for event in transitions:
        labels = {"workflow": "order", "transition": event.payload["transition"]}
        expected = transitions.filter(payload__transition=labels["transition"]).count()
        assert delta(before, after, "opscore_workflow_transitions_total", **labels) == expected
    dead = Execution.objects.get(instance_id=broken.pk, status=ExecutionStatus.DEAD)
    labels = {"workflow": "order", "step": dead.step}
    assert delta(before, after, "opscore_dead_letters_total", **labels) == 1
    assert delta(before, after, "opscore_dead_letters") == 1
    runs = Execution.objects.filter(step=dead.step).count()  # one attempt each, in this test
    assert delta(before, after, "opscore_step_started_to_finished_seconds_count", **labels) == runs


def test_a_rolled_back_transition_is_not_counted(django_capture_on_commit_callbacks):
    from opscore.actors import SYSTEM
    from workflows import engine

    order = start_order()
    client = APIClient()
    before = scrape(client)
    name = engine.available_transitions(order)[0]

    def transition_then_fail() -> None:
        with transaction.atomic():
            engine.transition(instance=order, name=name, actor=SYSTEM)
            raise RuntimeError("the caller's transaction fails after the transition")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        transition_then_fail()
    after = scrape(client)
    labels = {"workflow": "order", "transition": name}
    assert delta(before, after, "opscore_workflow_transitions_total", **labels) == 0


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer wrong-token", f"Basic {TOKEN}", f"Token {TOKEN}"]
)
def test_a_missing_or_wrong_token_is_401_with_no_metric(authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = APIClient().get("/metrics", **headers)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"opscore_" not in response.content


def test_other_methods_are_a_405_problem_even_with_the_token():
    client = APIClient(enforce_csrf_checks=True)
    response = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"
    assert b"opscore_" not in response.content


def test_without_a_configured_token_metrics_do_not_exist(settings):
    settings.OPSCORE_METRICS_TOKEN = ""
    for headers in (
        {},
        {"HTTP_AUTHORIZATION": "Bearer "},
        {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"},
    ):
        response = APIClient().get("/metrics", **headers)
        assert response.status_code == 404
        assert b"opscore_" not in response.content


def test_a_scrape_takes_the_same_queries_whatever_the_data_size():
    from tests.factories import order_in_review

    client = APIClient()
    order_in_review()
    with CaptureQueriesContext(connection) as small:
        scrape(client)
    for _ in range(5):
        order_in_review()
    start_order(value="not a number")
    drain_executions()
    with CaptureQueriesContext(connection) as larger:
        samples = scrape(client)
    assert len(small.captured_queries) == len(larger.captured_queries)
    assert sum(v for (n, _), v in samples.items() if n == "opscore_review_tasks_open") == 6
    assert "audit_event" not in " ".join(q["sql"] for q in larger.captured_queries)


COUNT_IN_A_WORKER = """
from opscore.metrics import DEAD_LETTERS
DEAD_LETTERS.labels(workflow="order", step="dispatch.execute").inc({n})
"""


def test_under_multiprocess_the_scrape_sums_every_worker(tmp_path, monkeypatch):
    """Two worker processes (as gunicorn or django-q2 would run) write to the shared directory;
    the scrape adds them up."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for n in (2, 3):
        subprocess.run([sys.executable, "-c", COUNT_IN_A_WORKER.format(n=n)], env=env, check=True)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    samples = scrape(APIClient())
    labels = (("step", "dispatch.execute"), ("workflow", "order"))
    assert samples[("opscore_dead_letters_total", labels)] == 5
    assert ("opscore_review_tasks_open", ()) not in samples  # gauges still come from the db
    assert ("opscore_dead_letters", ()) in samples
