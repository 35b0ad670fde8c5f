"""The event log in admin, as a staff member who may only read it."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from audit.models import Event
from tests.factories import start_order, user_with_perms

pytestmark = pytest.mark.django_db


def test_the_log_lists_the_newest_events_first_for_a_view_only_reader():
    start_order()
    start_order()
    reader = user_with_perms("audit.view_event", username="auditor")
    reader.is_staff = True
    reader.save()
    client = Client()
    client.force_login(reader)

    response = client.get("/admin/audit/event/")

    assert response.status_code == 200
    listed = [
        int(seq) for seq in re.findall(r'class="field-seq"><a [^>]*>(\d+)</a>', response.text)
    ]
    newest_first = list(Event.objects.order_by("-seq").values_list("seq", flat=True))
    assert listed == newest_first[: len(listed)]
    assert len(listed) >= 4
    assert listed[0] > listed[-1]
