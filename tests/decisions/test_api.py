import pytest
from rest_framework.test import APIClient

from decisions import services
from decisions.models import DecisionRecord
from opscore.actors import Actor
from tests.factories import start_order, user_with_perms

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(db) -> APIClient:
    api = APIClient()
    api.force_authenticate(
        user_with_perms(
            "decisions.view_ruleset", "decisions.view_decisionrecord", "processes.view_order"
        )
    )
    return api


def test_evaluate_is_a_dry_run_that_records_nothing(client, carrier_rules):
    response = client.post(
        "/api/v1/decisions/order-carrier/evaluate",
        {"inputs": {"weight_kg": 3, "postcode_area": "EH"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["outputs"] == {"carrier": "northpost"}
    assert body["version"] == 1
    assert body["matched_rules"][0]["id"] == "north"
    assert body["recorded"] is False
    assert DecisionRecord.objects.count() == 0


def test_evaluate_refuses_bad_input_precisely(client, carrier_rules):
    missing = client.post(
        "/api/v1/decisions/order-carrier/evaluate", {"inputs": {"weight_kg": 3}}, format="json"
    )
    assert missing.status_code == 400
    assert "postcode_area" in missing.content.decode()
    wrong_type = client.post(
        "/api/v1/decisions/order-carrier/evaluate",
        {"inputs": {"weight_kg": "heavy", "postcode_area": "SW"}},
        format="json",
    )
    assert wrong_type.status_code == 400
    assert "must be a number" in wrong_type.content.decode()
    assert wrong_type.json()["errors"][0]["pointer"] == "/inputs"
    unknown = client.post("/api/v1/decisions/nope/evaluate", {"inputs": {}}, format="json")
    assert unknown.status_code == 404
    malformed = client.post("/api/v1/decisions/order-carrier/evaluate", {}, format="json")
    assert malformed.status_code == 400


def test_evaluate_without_a_published_version_is_a_conflict(client, carrier_rules):
    publisher = Actor.for_user(user_with_perms("decisions.publish_ruleset"))
    services.retire_ruleset(rule_set=carrier_rules, actor=publisher)
    response = client.post(
        "/api/v1/decisions/order-carrier/evaluate",
        {"inputs": {"weight_kg": 3, "postcode_area": "EH"}},
        format="json",
    )
    assert response.status_code == 409
    # Every API error is RFC 9457 problem details, this app's included.
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert (problem["status"], problem["code"]) == (409, "no_published_version")
    assert problem["instance"] == "/api/v1/decisions/order-carrier/evaluate"


def test_decision_records_can_be_listed_and_read(client, carrier_rules):
    order = start_order()
    record = services.decide(
        rule_set="order-carrier",
        inputs={"weight_kg": 3, "postcode_area": "SW"},
        instance=order,
        step="dispatch.execute",
    )
    listing = client.get("/api/v1/decisions/records/?rule_set=order-carrier")
    assert listing.status_code == 200
    body = listing.json()
    rows = body["results"] if isinstance(body, dict) else body
    assert [row["id"] for row in rows] == [record.pk]
    detail = client.get(f"/api/v1/decisions/records/{record.pk}").json()
    assert detail["outputs"] == {"carrier": "southexpress"}
    assert detail["matched_rules"][0]["id"] == "south"
    assert detail["instance_type"] == "processes.order"
    assert detail["instance_id"] == order.pk
    assert detail["version"] == 1


def test_the_api_needs_an_authenticated_caller(carrier_rules):
    response = APIClient().get("/api/v1/decisions/records/")
    assert response.status_code in (401, 403)
