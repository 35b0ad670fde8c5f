"""Read access by permission, on every read endpoint of the API, as real roles (no superuser).

People read what admin lets them view: the model's `view` permission, and list endpoints leave
out workflows they may not view. Keys read what their integration's events started or
signalled, unless scoped `instances:read_all`. The tasks API is for people only.

Refusals are 403 whenever the caller lacks the endpoint's permission or scope; an object the
caller may hold the permission for but may not see (another integration's instance, an
invoice's execution for an order reader) is 404, as if it did not exist.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from approvals import selectors as tasks
from audit.selectors import instance_timeline
from decisions.selectors import decision_records
from integrations.models import InboundEvent
from processes.invoices.models import Invoice
from processes.orders.models import Order
from tests.factories import (
    api_key,
    order_in_review,
    order_received_event,
    reviewer,
    start_invoice,
    start_order,
    user_with_perms,
)
from workflows import services
from workflows.models import Execution
from workflows.models.execution import ExecutionStatus
from workflows.selectors import executions_for

pytestmark = pytest.mark.django_db

READER_SCOPES = ["instances:read", "executions:read", "inbound:read"]


def run_pending(instance) -> None:
    """Run this instance's queued steps in-process (decision steps only: no HTTP here)."""
    for execution in executions_for(instance=instance).filter(status=ExecutionStatus.PENDING):
        services.run_execution(execution_id=execution.pk)


def ingest(integration: str, body: dict) -> dict:
    writer = key_client(api_key(integration=integration, scopes=["events:write"]))
    response = writer.post(
        "/api/v1/events",
        json.dumps(body),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert response.status_code == 201, response.content
    return response.json()


def key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@dataclass
class World:
    order_a: Order  # started by integration shop-a's event
    order_b: Order  # started by shop-b's
    order_signalled: Order  # started by the system, signalled by shop-a
    order_review: Order  # started by the system, waiting in the reviewers' queue
    invoice: Invoice  # waiting for a manager

    @property
    def orders(self) -> list[Order]:
        return [self.order_a, self.order_b, self.order_signalled, self.order_review]

    def executions(self, *instances) -> set[int]:
        return {e.pk for i in instances for e in executions_for(instance=i)}

    def events_of(self, integration: str) -> list[InboundEvent]:
        return list(InboundEvent.objects.filter(integration__name=integration))


@pytest.fixture
def world() -> World:
    started_a = ingest("shop-a", order_received_event(source="shop-a", value=120))
    started_b = ingest("shop-b", order_received_event(source="shop-b", value=130))
    order_a = Order.objects.get(pk=started_a["instance"]["id"])
    order_b = Order.objects.get(pk=started_b["instance"]["id"])
    run_pending(order_a)  # policy.check: a decision record for order A

    signalled = start_order()
    # Straight to the wait for proof of delivery (test set-up, not a path the API offers).
    Order.objects.filter(pk=signalled.pk).update(state="awaiting_pod")
    ingest(
        "shop-a",
        {
            "type": "shipment.delivered",
            "source": "shop-a",
            "occurred_at": "2026-11-25T12:00:00Z",
            "correlation_key": signalled.correlation_key,
            "payload": {"tracking_number": "TRK-A"},
        },
    )

    invoice = start_invoice(amount=4000)
    run_pending(invoice)  # invoice-approval decides a manager must approve
    invoice.refresh_from_db()
    assert invoice.state == "awaiting_manager"
    return World(
        order_a=order_a,
        order_b=order_b,
        order_signalled=signalled,
        order_review=order_in_review(),
        invoice=invoice,
    )


def read_urls(world: World) -> dict[str, str]:
    execution = Execution.objects.filter(instance_id=world.order_a.pk).first()
    record = decision_records(instance=world.order_a).first()
    event = InboundEvent.objects.first()
    task = tasks.active_task_for(instance=world.order_review)
    order = f"/api/v1/instances/order/{world.order_a.pk}"
    return {
        "instances": "/api/v1/instances/order/",
        "instance": order,
        "timeline": f"{order}/timeline",
        "executions": "/api/v1/executions/",
        "execution": f"/api/v1/executions/{execution.pk}",
        "decision records": "/api/v1/decisions/records/",
        "decision record": f"/api/v1/decisions/records/{record.pk}",
        "inbound events": "/api/v1/inbound-events/",
        "inbound event": f"/api/v1/inbound-events/{event.pk}",
        "tasks": "/api/v1/tasks/?queue=team",
        "task": f"/api/v1/tasks/{task.pk}",
    }


def ids(response) -> list:
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    return [row["id"] for row in rows]


def assert_refused(
    response, status: int, code: str, *, mentions: str = "", label: str = ""
) -> None:
    assert response.status_code == status, (label, response.status_code, response.content)
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code, label
    # A refusal carries the problem and nothing of what was asked for.
    assert not {"results", "id", "state", "context", "payload"} & set(body), label
    assert mentions in body["detail"], (label, body["detail"])


# --- people --------------------------------------------------------------------------------


def test_anonymous_callers_read_nothing(world):
    client = APIClient()
    for name, url in read_urls(world).items():
        assert_refused(client.get(url), 401, "not_authenticated", label=name)


EXPECTED_PERMISSION = {
    "instances": "processes.view_order",
    "instance": "processes.view_order",
    "timeline": "processes.view_order",
    "executions": "workflows.view_execution",
    "execution": "workflows.view_execution",
    "decision records": "decisions.view_decisionrecord",
    "decision record": "decisions.view_decisionrecord",
    "inbound events": "integrations.view_inboundevent",
    "inbound event": "integrations.view_inboundevent",
    "tasks": "approvals.work_reviewtask",
    "task": "approvals.work_reviewtask",
}


def test_staff_without_permissions_are_refused_on_every_read_endpoint(world):
    client = session(user_with_perms(username="viewless"))
    for name, url in read_urls(world).items():
        # 403 naming the permission that is missing, on lists too: not an empty page that
        # would read as "nothing there".
        needed = EXPECTED_PERMISSION[name]
        assert_refused(client.get(url), 403, "permission_denied", mentions=needed, label=name)


def test_a_reviewer_with_view_order_reads_orders_and_never_invoices(world):
    client = session(reviewer("rita", perms=("processes.view_order",)))
    orders = client.get("/api/v1/instances/order/")
    assert orders.status_code == 200
    assert sorted(ids(orders)) == sorted(order.pk for order in world.orders)
    detail = client.get(f"/api/v1/instances/order/{world.order_b.pk}").json()
    assert (detail["id"], detail["workflow"], detail["correlation_key"]) == (
        world.order_b.pk,
        "order",
        world.order_b.correlation_key,
    )
    timeline = client.get(f"/api/v1/instances/order/{world.order_a.pk}/timeline").json()
    assert [event["seq"] for event in timeline] == list(
        instance_timeline(instance=world.order_a).values_list("seq", flat=True)
    )
    assert timeline[0]["type"] == "workflow.started"

    invoice = f"/api/v1/instances/invoice/{world.invoice.pk}"
    for url in ("/api/v1/instances/invoice/", invoice, f"{invoice}/timeline"):
        assert_refused(client.get(url), 403, "permission_denied", mentions="view_invoice")
    # View permission on orders is not permission on their executions or decisions.
    assert_refused(client.get("/api/v1/executions/"), 403, "permission_denied")
    assert_refused(client.get("/api/v1/decisions/records/"), 403, "permission_denied")


def test_a_manager_with_view_invoice_reads_invoices_and_never_orders(world):
    client = session(reviewer("mia", group="managers", perms=("processes.view_invoice",)))
    invoices = client.get("/api/v1/instances/invoice/")
    assert ids(invoices) == [world.invoice.pk]
    detail = client.get(f"/api/v1/instances/invoice/{world.invoice.pk}").json()
    assert (detail["state"], detail["context"]["input"]["amount"]) == ("awaiting_manager", 4000)
    order = f"/api/v1/instances/order/{world.order_a.pk}"
    for url in ("/api/v1/instances/order/", order, f"{order}/timeline"):
        assert_refused(client.get(url), 403, "permission_denied", mentions="view_order")


def test_executions_and_decisions_follow_the_workflows_a_person_may_view(world):
    client = session(
        user_with_perms(
            "processes.view_order",
            "workflows.view_execution",
            "decisions.view_decisionrecord",
            username="order-auditor",
        )
    )
    executions = client.get("/api/v1/executions/")
    assert executions.status_code == 200
    assert set(ids(executions)) == world.executions(*world.orders)
    assert {row["workflow"] for row in executions.json()["results"]} == {"order"}
    invoice_execution = executions_for(instance=world.invoice).first()
    assert_refused(client.get(f"/api/v1/executions/{invoice_execution.pk}"), 404, "not_found")
    assert_refused(
        client.get("/api/v1/executions/?workflow=invoice"),
        403,
        "permission_denied",
        mentions="processes.view_invoice",
    )

    records = client.get("/api/v1/decisions/records/")
    assert records.status_code == 200
    order_record = decision_records(instance=world.order_a).get()
    invoice_record = decision_records(instance=world.invoice).get()
    assert ids(records) == [order_record.pk]
    assert client.get(f"/api/v1/decisions/records/{order_record.pk}").json()["outputs"] == (
        order_record.outputs
    )
    assert_refused(client.get(f"/api/v1/decisions/records/{invoice_record.pk}"), 404, "not_found")


def test_a_person_with_view_inboundevent_sees_every_integrations_events(world):
    client = session(user_with_perms("integrations.view_inboundevent", username="ops"))
    listed = client.get("/api/v1/inbound-events/")
    assert {row["integration"] for row in listed.json()["results"]} == {"shop-a", "shop-b"}
    assert len(ids(listed)) == InboundEvent.objects.count() == 3


def test_the_task_api_shows_a_person_only_their_queues(world):
    order_task = tasks.active_task_for(instance=world.order_review)
    invoice_task = tasks.active_task_for(instance=world.invoice)
    rita = session(reviewer("rita"))
    assert ids(rita.get("/api/v1/tasks/?queue=team")) == [order_task.pk]
    assert_refused(rita.get(f"/api/v1/tasks/{invoice_task.pk}"), 404, "not_found")
    mia = session(reviewer("mia", group="managers", perms=("processes.approve_invoice",)))
    assert ids(mia.get("/api/v1/tasks/?queue=team")) == [invoice_task.pk]
    assert mia.get(f"/api/v1/tasks/{invoice_task.pk}").json()["workflow"] == "invoice"


# --- API keys ------------------------------------------------------------------------------


def test_a_key_reads_only_the_instances_its_integration_started_or_signalled(world):
    client = key_client(api_key(integration="shop-a", scopes=READER_SCOPES))
    listed = client.get("/api/v1/instances/order/")
    assert sorted(ids(listed)) == sorted([world.order_a.pk, world.order_signalled.pk])
    assert client.get("/api/v1/instances/invoice/").json()["results"] == []
    mine = client.get(f"/api/v1/instances/order/{world.order_signalled.pk}").json()
    assert mine["state"] == "completed"
    timeline = client.get(f"/api/v1/instances/order/{world.order_a.pk}/timeline").json()
    assert [event["seq"] for event in timeline] == list(
        instance_timeline(instance=world.order_a).values_list("seq", flat=True)
    )

    theirs = f"/api/v1/instances/order/{world.order_b.pk}"
    for url in (theirs, f"{theirs}/timeline", f"/api/v1/instances/invoice/{world.invoice.pk}"):
        assert_refused(client.get(url), 404, "not_found")
    by_key = client.get(f"/api/v1/instances/order/?correlation_key={world.order_b.correlation_key}")
    assert by_key.json()["results"] == []


def test_a_key_reads_only_the_executions_of_instances_it_may_read(world):
    client = key_client(api_key(integration="shop-a", scopes=READER_SCOPES))
    executions = client.get("/api/v1/executions/")
    assert set(ids(executions)) == world.executions(world.order_a, world.order_signalled)
    for other in (world.order_b, world.invoice):
        execution = executions_for(instance=other).first()
        assert_refused(client.get(f"/api/v1/executions/{execution.pk}"), 404, "not_found")
    assert client.get("/api/v1/executions/?workflow=invoice").json()["results"] == []


def test_a_key_reads_only_its_own_integrations_inbound_events(world):
    client = key_client(api_key(integration="shop-a", scopes=READER_SCOPES))
    listed = client.get("/api/v1/inbound-events/")
    assert {row["integration"] for row in listed.json()["results"]} == {"shop-a"}
    assert set(ids(listed)) == {str(event.pk) for event in world.events_of("shop-a")}
    [event_b] = world.events_of("shop-b")
    assert_refused(client.get(f"/api/v1/inbound-events/{event_b.pk}"), 404, "not_found")


def test_a_key_scoped_read_all_reads_every_integrations_instances(world):
    client = key_client(
        api_key(integration="reporting", scopes=[*READER_SCOPES, "instances:read_all"])
    )
    assert sorted(ids(client.get("/api/v1/instances/order/"))) == sorted(
        order.pk for order in world.orders
    )
    assert ids(client.get("/api/v1/instances/invoice/")) == [world.invoice.pk]
    detail = client.get(f"/api/v1/instances/order/{world.order_b.pk}").json()
    assert detail["correlation_key"] == world.order_b.correlation_key
    assert set(ids(client.get("/api/v1/executions/"))) == world.executions(
        *world.orders, world.invoice
    )
    # read_all widens instance reads only: inbound events stay the integration's own (none).
    assert client.get("/api/v1/inbound-events/").json()["results"] == []


def test_a_key_without_the_scope_is_refused(world):
    urls = read_urls(world)
    writer = key_client(api_key(integration="shop-a", scopes=["events:write"]))
    for name in ("instances", "instance", "timeline", "executions", "execution", "inbound events"):
        assert_refused(
            writer.get(urls[name]), 403, "permission_denied", mentions="scope", label=name
        )
    # read_all alone opens no endpoint: it widens instances:read, it does not grant it.
    read_all_only = key_client(api_key(integration="shop-a", scopes=["instances:read_all"]))
    assert_refused(read_all_only.get(urls["instances"]), 403, "permission_denied")


def test_keys_are_refused_on_the_task_api_whatever_their_scopes(world):
    task = tasks.active_task_for(instance=world.order_review)
    client = key_client(api_key(integration="shop-a"))  # every scope there is
    before = (task.status, task.assignee_id, world.order_review.version)
    for url in ("/api/v1/tasks/", "/api/v1/tasks/?queue=team", f"/api/v1/tasks/{task.pk}"):
        assert_refused(client.get(url), 403, "permission_denied")
    assert_refused(client.post(f"/api/v1/tasks/{task.pk}/claim"), 403, "permission_denied")
    task.refresh_from_db()
    world.order_review.refresh_from_db()
    assert (task.status, task.assignee_id, world.order_review.version) == before


def test_keys_are_refused_on_the_task_api_even_when_their_user_works_queues(world):
    """The integration's service user given the reviewer's permission and group still
    cannot act through its key: deciding needs a person."""
    from integrations.models import Integration

    key = api_key(integration="shop-a")
    service_user = Integration.objects.get(name="shop-a").user
    service_user.user_permissions.add(
        *reviewer("template").user_permissions.all()  # work_reviewtask, review_order
    )
    service_user.groups.add(*reviewer("template").groups.all())
    task = tasks.active_task_for(instance=world.order_review)
    client = key_client(key)
    assert_refused(client.get("/api/v1/tasks/?queue=team"), 403, "permission_denied")
    assert_refused(client.post(f"/api/v1/tasks/{task.pk}/claim"), 403, "permission_denied")
    task.refresh_from_db()
    assert (task.status, task.assignee_id) == ("open", None)


def test_create_api_key_does_not_grant_read_all_unless_asked(capsys):
    from django.core.management import call_command

    from integrations.models import ApiKey

    call_command("create_api_key", "billing")
    assert "instances:read_all" not in ApiKey.objects.get().scopes
    assert "instances:read" in ApiKey.objects.get().scopes
    call_command("create_api_key", "reporting", "--scope", "instances:read_all")
    assert ApiKey.objects.get(integration__name="reporting").scopes == ["instances:read_all"]
