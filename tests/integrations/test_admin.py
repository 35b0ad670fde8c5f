"""Admin paths of the trigger layer; each goes through the same services as the API."""

import json
import re

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from rest_framework.test import APIClient

from integrations.models import ApiKey, Channel, EventType, InboundEvent, Integration, Rejection
from processes.orders.models import Order
from tests.factories import order_context, user_with_perms

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(client):
    user = User.objects.create_superuser("boss", "boss@example.test", "pw-boss-123456")
    client.force_login(user)
    return client


def _shown_key(response) -> str:
    page = response.content.decode()
    match = re.search(r"<code>(opk_[^<]+)</code>", page)
    assert match, page[-3000:]
    return match.group(1)


def _works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client.get("/api/v1/inbound-events/").status_code == 200


def test_a_key_made_in_admin_is_shown_once_stored_hashed_and_works(boss):
    shop = Integration.objects.create(name="shop")
    response = boss.post(
        reverse("admin:integrations_apikey_add"),
        {"integration": shop.pk, "name": "prod", "scopes": ["inbound:read"], "event_types": "*"},
        follow=True,
    )
    key = _shown_key(response)
    stored = ApiKey.objects.get()
    assert key not in json.dumps(list(ApiKey.objects.values()), default=str)
    assert stored.prefix in key
    assert _works(key)
    # The next page no longer shows it.
    assert key not in boss.get(reverse("admin:integrations_apikey_changelist")).content.decode()

    rotated = boss.post(
        reverse("admin:integrations_apikey_changelist"),
        {"action": "rotate_selected", "_selected_action": [stored.pk]},
        follow=True,
    )
    new_key = _shown_key(rotated)
    assert not _works(key)
    assert _works(new_key)
    boss.post(
        reverse("admin:integrations_apikey_changelist"),
        {"action": "revoke_selected", "_selected_action": [ApiKey.objects.get(revoked_at=None).pk]},
    )
    assert not _works(new_key)


def test_manual_start_goes_through_ingestion_and_a_double_submit_starts_one_order(boss):
    order_received = EventType.objects.get(name="order.received")
    form = {
        "event_type": order_received.pk,
        "correlation_key": "SO-MANUAL",
        "payload": json.dumps(order_context()),
        "idempotency_key": "form-1",
        "opened_at": "2026-11-25 12:00:00",
    }
    url = reverse("admin:integrations_manual_start")
    assert boss.post(url, form).status_code == 302
    assert boss.post(url, form).status_code == 302
    order = Order.objects.get()
    assert order.correlation_key == "SO-MANUAL"
    inbound = InboundEvent.objects.get()
    assert (inbound.channel, inbound.source, inbound.actor_ref) == (
        "admin",
        "admin:boss",
        "user:boss",
    )


def test_manual_start_shows_schema_errors_and_records_the_rejection(boss):
    form = {
        "event_type": EventType.objects.get(name="order.received").pk,
        "payload": json.dumps({**order_context(), "weight_kg": "heavy"}),
        "idempotency_key": "form-2",
        "opened_at": "2026-11-25 12:00:00",
    }
    response = boss.post(reverse("admin:integrations_manual_start"), form)
    assert response.status_code == 200
    assert "/payload/weight_kg" in response.content.decode()
    assert Order.objects.count() == 0
    assert Rejection.objects.get().channel == Channel.ADMIN


def test_manual_start_needs_its_permission(client):
    client.force_login(user_with_perms("integrations.view_inboundevent"))
    assert client.get(reverse("admin:integrations_manual_start")).status_code == 403


def test_redelivery_deduplicates_unless_a_new_key_is_asked_for(boss):
    api = APIClient()
    api.force_authenticate(User.objects.get(username="boss"))
    body = {
        "type": "order.received",
        "source": "shop",
        "occurred_at": "2026-11-25T12:00:00Z",
        "payload": order_context(),
    }
    api.post(
        "/api/v1/events",
        json.dumps(body),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="orig",
    )
    original = InboundEvent.objects.get()
    changelist = reverse("admin:integrations_inboundevent_changelist")

    boss.post(changelist, {"action": "redeliver_deduplicated", "_selected_action": [original.pk]})
    assert InboundEvent.objects.count() == 1
    assert Order.objects.count() == 1

    boss.post(changelist, {"action": "redeliver_with_new_key", "_selected_action": [original.pk]})
    again = InboundEvent.objects.exclude(pk=original.pk).get()
    assert again.redelivery_of == original
    assert again.channel == Channel.REDELIVERY
    assert again.actor_ref == "user:boss"
    assert again.idempotency_key.startswith("orig:redelivery:")
    assert Order.objects.count() == 2


def test_inbound_events_cannot_be_changed_or_deleted(boss):
    event = InboundEvent(
        channel="api",
        source="s",
        idempotency_key="k",
        request_hash="h",
        type="t",
        occurred_at="2026-11-25T12:00:00Z",
        payload={},
        status="stored",
        actor_ref="x",
        response_status=201,
        response_body={},
    )
    event.save()
    with pytest.raises(ValueError, match="immutable"):
        event.save()
    changelist = reverse("admin:integrations_inboundevent_changelist")
    page = boss.get(reverse("admin:integrations_inboundevent_change", args=[event.pk]))
    assert 'name="_save"' not in page.content.decode()
    assert boss.get(f"{changelist}{event.pk}/delete/").status_code == 403


@pytest.mark.parametrize(
    "name",
    [
        "integrations_integration_changelist",
        "integrations_apikey_changelist",
        "integrations_apikey_add",
        "integrations_eventtype_changelist",
        "integrations_inboundevent_changelist",
        "integrations_rejection_changelist",
        "integrations_webhooksource_changelist",
        "integrations_schedule_changelist",
        "integrations_schedule_add",
        "integrations_manual_start",
    ],
)
def test_trigger_admin_pages_render(boss, name):
    assert boss.get(reverse(f"admin:{name}")).status_code == 200


def test_a_schedule_saved_in_admin_gets_its_django_q_schedule(boss):
    from django_q.models import Schedule as QSchedule

    from integrations.services import FIRE_SCHEDULE_JOB

    tick = EventType.objects.create(name="ops.tick", schema={"type": "object"})
    response = boss.post(
        reverse("admin:integrations_schedule_add"),
        {
            "name": "nightly",
            "event_type": tick.pk,
            "cron": "0 2 * * *",
            "payload": "{}",
            "correlation_key": "",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert QSchedule.objects.get(func=FIRE_SCHEDULE_JOB).cron == "0 2 * * *"
    bad = boss.post(
        reverse("admin:integrations_schedule_add"),
        {"name": "bad", "event_type": tick.pk, "cron": "every night", "payload": "{}"},
    )
    assert "not a valid cron expression" in bad.content.decode()


def test_a_webhook_source_page_shows_no_part_of_its_secrets():
    """A viewer of webhook sources sees each secret by number, never any of its characters."""
    from integrations.models import WebhookSecret
    from tests.factories import webhook_source

    source = webhook_source(name="carrier", secrets=2)
    viewer = user_with_perms(
        "integrations.view_webhooksource", "integrations.view_webhooksecret", username="wanda"
    )
    client = APIClient()
    client.force_login(viewer)
    page = client.get(reverse("admin:integrations_webhooksource_change", args=[source.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    for secret in WebhookSecret.objects.filter(source=source):
        # Past the fixed "whsec_" prefix, even four characters narrow the secret down.
        assert secret.secret[6:10] not in html
        assert f"secret #{secret.pk}" in html
