"""API rate limits: per API key, per client address without a key; 429 problem details.

Rates are set low here (settings.OPSCORE_THROTTLE_RATES, read on each request); the counters
live in the rate-window table, as in production.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.models import InboundEvent
from opscore.models import RateWindow
from opscore.throttling import count_hit
from tests.factories import api_key, order_received_event, user_with_perms, webhook_source

pytestmark = pytest.mark.django_db

INSTANCES = "/api/v1/instances/order/"
HOOK = "/api/v1/hooks/carrier/"
PROBLEM = "application/problem+json"


@pytest.fixture
def low_rates(settings):
    settings.OPSCORE_THROTTLE_RATES = {"api_key": "3/min", "anonymous": "2/min", "webhook": "2/min"}


def keyed(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def unsigned_hook(client: APIClient, **extra):
    return client.post(HOOK, data=b'{"type": "x"}', content_type="application/json", **extra)


def assert_throttled(response) -> int:
    assert response.status_code == 429, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == 429
    assert body["code"] == "throttled"
    assert body["type"] == "urn:opscore:problem:throttled"
    wait = int(response["Retry-After"])
    assert 0 < wait <= 60
    return wait


def test_an_api_key_over_its_rate_gets_429_problem_with_retry_after(low_rates, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    key, other = api_key(), api_key(integration="warehouse")
    client = keyed(key)

    assert [client.get(INSTANCES).status_code for _ in range(3)] == [200, 200, 200]
    assert_throttled(client.get(INSTANCES))
    # The budget is the key's own: another key is unaffected.
    assert keyed(other).get(INSTANCES).status_code == 200

    time_machine.shift(timedelta(seconds=61))
    assert client.get(INSTANCES).status_code == 200


def test_a_throttled_event_post_records_nothing(low_rates):
    client = keyed(api_key())
    for _ in range(3):
        client.get(INSTANCES)
    events_before = InboundEvent.objects.count()

    response = client.post(
        "/api/v1/events",
        order_received_event(),
        format="json",
        HTTP_IDEMPOTENCY_KEY="after-the-limit",
    )

    assert_throttled(response)
    assert InboundEvent.objects.count() == events_before


def test_callers_without_a_key_are_limited_by_address_and_cannot_dodge_it(low_rates):
    webhook_source()
    client = APIClient()

    statuses = [unsigned_hook(client, REMOTE_ADDR="203.0.113.7").status_code for _ in range(2)]
    assert 429 not in statuses
    assert_throttled(unsigned_hook(client, REMOTE_ADDR="203.0.113.7"))
    # A forged X-Forwarded-For is ignored while no proxy is declared (OPSCORE_NUM_PROXIES=0).
    assert_throttled(
        unsigned_hook(client, REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="198.51.100.9")
    )
    # Another address has its own budget.
    assert unsigned_hook(client, REMOTE_ADDR="203.0.113.8").status_code != 429
    assert InboundEvent.objects.count() == 0


def test_staff_sessions_are_not_throttled(low_rates, client):
    staff = user_with_perms("processes.view_order")
    client.force_login(staff)

    statuses = {client.get(INSTANCES).status_code for _ in range(6)}

    assert 429 not in statuses


def test_the_openapi_schema_documents_429_on_every_operation(client):
    client.force_login(user_with_perms())
    schema = client.get("/api/v1/schema/?format=json").json()

    operations = [
        operation
        for path_item in schema["paths"].values()
        for operation in path_item.values()
        if isinstance(operation, dict) and "responses" in operation
    ]
    assert operations
    for operation in operations:
        response = operation["responses"]["429"]
        assert response["headers"]["Retry-After"]["required"] is True
        assert "application/problem+json" in response["content"]


def test_one_webhook_sources_deliveries_do_not_spend_anothers_budget(low_rates):
    webhook_source()
    webhook_source(name="other-carrier")
    client = APIClient()
    for _ in range(2):
        unsigned_hook(client, REMOTE_ADDR="203.0.113.7")
    assert_throttled(unsigned_hook(client, REMOTE_ADDR="203.0.113.7"))

    other = client.post(
        "/api/v1/hooks/other-carrier/",
        data=b'{"type": "x"}',
        content_type="application/json",
        REMOTE_ADDR="203.0.113.7",
    )

    assert other.status_code == 401  # refused for its signature, not for the rate


def test_a_new_window_gives_the_budget_back_and_ended_windows_are_deleted(low_rates):
    key = api_key()
    client = APIClient()

    def read():
        return client.get(INSTANCES, HTTP_AUTHORIZATION=f"Api-Key {key}")

    with time_machine.travel(datetime(2026, 11, 29, 10, 0, 5, tzinfo=UTC), tick=False):
        assert [read().status_code for _ in range(3)] == [200, 200, 200]
        assert_throttled(read())
    with time_machine.travel(datetime(2026, 11, 29, 10, 1, 5, tzinfo=UTC), tick=False):
        assert read().status_code == 200
        assert RateWindow.objects.filter(ends_at__lte=timezone.now()).count() == 0
        assert RateWindow.objects.get(slot__startswith="api_key:").hits == 1


def test_opening_a_long_window_keeps_the_short_windows_still_running():
    now = datetime(2026, 11, 29, 10, 0, 30, tzinfo=UTC)
    minute_end = datetime(2026, 11, 29, 10, 1, tzinfo=UTC)
    assert count_hit(slot="a:minute", ends_at=minute_end, now=now) == 1
    assert count_hit(slot="a:minute", ends_at=minute_end, now=now) == 2
    assert count_hit(slot="b:hour", ends_at=datetime(2026, 11, 29, 11, tzinfo=UTC), now=now) == 1

    assert count_hit(slot="a:minute", ends_at=minute_end, now=now) == 3
