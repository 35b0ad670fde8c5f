"""Read API: instances with filters and cursor pagination, timelines, executions, inbound events."""

import json
import uuid

import pytest
from rest_framework.test import APIClient

from tests.factories import api_key, order_received_event, start_order, user_with_perms

pytestmark = pytest.mark.django_db


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_instances_list_filters_and_pages_by_cursor(monkeypatch):
    orders = [start_order(correlation_key=f"SO-{n}") for n in range(5)]
    # Started by the system, not by the key's integration: only a read_all key sees them.
    client = client_with(api_key(scopes=["instances:read", "instances:read_all"]))
    first = client.get("/api/v1/instances/order/?state=received").json()
    assert first["previous"] is None
    assert len(first["results"]) == 5
    assert first["results"][0]["id"] == orders[-1].pk  # newest first

    one = client.get("/api/v1/instances/order/?correlation_key=SO-2").json()["results"]
    assert [row["id"] for row in one] == [orders[2].pk]
    assert client.get("/api/v1/instances/order/?state=completed").json()["results"] == []

    from workflows.api import NewestFirst

    monkeypatch.setattr(NewestFirst, "page_size", 2)
    page = client.get("/api/v1/instances/order/").json()
    seen = [row["id"] for row in page["results"]]
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [row["id"] for row in page["results"]]
    assert seen == [order.pk for order in reversed(orders)]


def test_instance_detail_and_timeline_come_from_the_log():
    order = start_order()
    client = client_with(api_key(scopes=["instances:read", "instances:read_all"]))
    detail = client.get(f"/api/v1/instances/order/{order.pk}").json()
    assert (detail["state"], detail["workflow"]) == ("received", "order")
    timeline = client.get(f"/api/v1/instances/order/{order.pk}/timeline").json()
    assert [event["type"] for event in timeline] == ["workflow.started", "execution.scheduled"]
    assert client.get("/api/v1/instances/order/999999").status_code == 404


def test_executions_filter_by_status_and_step():
    start_order()
    client = client_with(api_key(scopes=["executions:read", "instances:read_all"]))
    rows = client.get("/api/v1/executions/?status=pending&workflow=order").json()["results"]
    assert [row["step"] for row in rows] == ["policy.check"]
    assert client.get("/api/v1/executions/?step=dispatch.execute").json()["results"] == []
    detail = client.get(f"/api/v1/executions/{rows[0]['id']}").json()
    assert detail["idempotency_key"].startswith("order:")


def test_inbound_events_are_listed_per_integration_for_keys_and_all_for_staff():
    shop = api_key(integration="shop")
    other = api_key(integration="other")
    for key, source in ((shop, "shop"), (other, "other")):
        response = client_with(key).post(
            "/api/v1/events",
            json.dumps(order_received_event(source=source)),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        )
        assert response.status_code == 201
    mine = client_with(shop).get("/api/v1/inbound-events/").json()["results"]
    assert [row["integration"] for row in mine] == ["shop"]
    detail = client_with(shop).get(f"/api/v1/inbound-events/{mine[0]['id']}").json()
    assert detail["instance_id"] is not None
    theirs = client_with(other).get(f"/api/v1/inbound-events/{mine[0]['id']}")
    assert theirs.status_code == 404

    staff = APIClient()
    staff.force_authenticate(user_with_perms("integrations.view_inboundevent"))
    assert len(staff.get("/api/v1/inbound-events/").json()["results"]) == 2


def test_keys_reach_only_the_endpoints_they_are_scoped_for():
    writer = client_with(api_key(scopes=["events:write"]))
    assert writer.get("/api/v1/instances/order/").status_code == 403
    assert writer.get("/api/v1/executions/").status_code == 403
    # Endpoints that name no scope are closed to every key.
    assert writer.get("/api/v1/decisions/records/").status_code == 403


def test_the_schema_and_swagger_ui_are_served_without_the_internet():
    client = APIClient()
    schema = client.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert "422" in paths["/api/v1/events"]["post"]["responses"]
    assert "401" in paths["/api/v1/hooks/{source}/"]["post"]["responses"]
    docs = client.get("/api/v1/docs/").content.decode()
    assert "swagger-ui" in docs
    assert "cdn" not in docs.lower()
