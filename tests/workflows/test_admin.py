import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from audit.models import Event
from processes.orders.models import OrderState
from tests.factories import start_order
from tests.workflows.drain import drain_executions
from workflows.models import Execution
from workflows.models.execution import ExecutionStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged_in(client):
    user = User.objects.create_superuser("boss", "boss@example.test", "pw-boss-123456")
    client.force_login(user)
    return client


def test_order_page_shows_context_executions_and_timeline(admin_client_logged_in, carrier):
    order = start_order(value=5000)
    drain_executions()
    response = admin_client_logged_in.get(reverse("admin:processes_order_change", args=[order.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "value at or above 1000" in page
    assert f"order:{order.pk}:policy.check:v0" in page
    assert "received &rarr; in_review (flag_for_review)" in page


def test_order_list_filters_by_state(admin_client_logged_in, carrier):
    in_review = start_order(value=5000)
    dispatched = start_order(value=5)
    drain_executions()
    response = admin_client_logged_in.get(
        reverse("admin:processes_order_changelist"), {"state__exact": OrderState.IN_REVIEW}
    )
    page = response.content.decode()
    assert in_review.correlation_key in page
    assert dispatched.correlation_key not in page


def test_retry_action_requeues_dead_executions_with_their_key(
    admin_client_logged_in, carrier, settings
):
    good = carrier.url
    settings.OPSCORE_CARRIER_URL = good.replace("/shipments", "/down")
    order = start_order()
    drain_executions()
    dead = Execution.objects.get(instance_id=order.pk, step="dispatch.execute")
    assert dead.status == ExecutionStatus.DEAD
    settings.OPSCORE_CARRIER_URL = good

    response = admin_client_logged_in.post(
        reverse("admin:workflows_execution_changelist"),
        {"action": "retry_selected", "_selected_action": [dead.pk]},
        follow=True,
    )
    assert "Queued 1 execution(s) for retry" in response.content.decode()
    drain_executions()
    dead.refresh_from_db()
    assert dead.status == ExecutionStatus.SUCCEEDED
    assert list(carrier.ledger.requests_by_key) == [dead.idempotency_key]


def test_cancel_action_goes_through_the_engine(admin_client_logged_in):
    order = start_order()
    response = admin_client_logged_in.post(
        reverse("admin:processes_order_changelist"),
        {"action": "cancel_selected", "_selected_action": [order.pk]},
        follow=True,
    )
    assert "Cancelled 1 instance(s)" in response.content.decode()
    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    assert Event.objects.filter(type="workflow.transition", payload__transition="cancel").exists()


def test_the_event_log_cannot_be_edited_in_admin(admin_client_logged_in):
    start_order()
    event = Event.objects.first()
    change_url = reverse("admin:audit_event_change", args=[event.pk])
    assert admin_client_logged_in.get(change_url).status_code == 200
    response = admin_client_logged_in.post(change_url, {"type": "edited"})
    assert response.status_code == 403
    assert Event.objects.get(pk=event.pk).type == "workflow.started"
    delete_url = reverse("admin:audit_event_delete", args=[event.pk])
    assert admin_client_logged_in.post(delete_url, {"post": "yes"}).status_code == 403
