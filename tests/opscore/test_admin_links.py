"""A page links to another object only when its viewer may open that object's page; the rest
is named in plain text. Checked on the pages that point at workflow instances from elsewhere
(a decision record, an inbound event), as the roles that read them."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from decisions.models import DecisionRecord
from integrations.models import InboundEvent
from tests.factories import api_key, order_received_event, start_order, user_with_perms
from tests.workflows.drain import drain_executions

pytestmark = pytest.mark.django_db


def _admin_links(page: str) -> set[str]:
    return set(re.findall(r"href=[\"'](/admin/[^\"'#]*)[\"']", page)) - {"/admin/logout/"}


def _every_link_opens(client, page: str) -> None:
    for link in _admin_links(page):
        assert client.get(link.replace("&amp;", "&")).status_code in (200, 302), link


def test_a_publisher_reads_a_decision_with_its_order_named_not_linked(client):
    order = start_order(value=5000)
    drain_executions()
    record = DecisionRecord.objects.get(instance_id=order.pk, step="policy.check")
    order_url = reverse("admin:processes_order_change", args=[order.pk])
    record_url = reverse("admin:decisions_decisionrecord_change", args=[record.pk])

    publisher = user_with_perms("decisions.view_decisionrecord", "decisions.view_ruleset")
    client.force_login(publisher)
    page = client.get(record_url).content.decode()
    assert f"order #{order.pk}" in page
    assert order_url not in page
    _every_link_opens(client, page)

    supervisor = user_with_perms("decisions.view_decisionrecord", "processes.view_order")
    client.force_login(supervisor)
    page = client.get(record_url).content.decode()
    assert f"<a href='{order_url}'>order #{order.pk}</a>" in page
    _every_link_opens(client, page)


def test_an_inbound_event_links_its_instance_only_for_who_may_open_it(client):
    key = api_key()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    answer = api.post(
        "/api/v1/events",
        json.dumps(order_received_event()),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="links-1",
    )
    assert answer.status_code in (201, 202), answer.content
    event = InboundEvent.objects.get()
    event_url = reverse("admin:integrations_inboundevent_change", args=[event.pk])
    order_url = reverse("admin:processes_order_change", args=[event.instance_id])

    integrator = user_with_perms("integrations.view_inboundevent")
    client.force_login(integrator)
    page = client.get(event_url).content.decode()
    assert f"order #{event.instance_id}" in page
    assert order_url not in page
    _every_link_opens(client, page)

    client.force_login(user_with_perms("integrations.view_inboundevent", "processes.view_order"))
    assert order_url in client.get(event_url).content.decode()
