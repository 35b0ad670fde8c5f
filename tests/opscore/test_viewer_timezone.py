"""A page shows times in the zone the viewer's browser names; a missing or unknown zone
falls back to OPSCORE_TIME_ZONE, never an error."""

from __future__ import annotations

import pytest
from django.urls import reverse

from approvals import selectors
from opscore.moments import moment
from opscore.viewer_timezone import zone_named
from tests.factories import order_in_review, reviewer

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("cookie", "zone"),
    [
        ("Europe%2FParis", "Europe/Paris"),
        ("America/New_York", "America/New_York"),
        ("Mars/Olympus", None),
        ("../../etc/passwd", None),
        ("", None),
    ],
)
def test_only_real_zone_names_are_taken(cookie, zone):
    found = zone_named(cookie)
    assert (str(found) if found else None) == zone


def test_a_task_page_shows_its_deadline_in_the_viewers_zone(client, settings):
    settings.TIME_ZONE = "UTC"
    task = selectors.active_task_for(instance=order_in_review())
    client.force_login(reviewer("rita"))
    url = reverse("admin:approvals_teamtask_change", args=[task.pk])
    assert moment(task.due_at) in client.get(url).content.decode()
    assert "UTC" in moment(task.due_at)

    client.cookies["opscore_tz"] = "Asia%2FTokyo"
    page = client.get(url).content.decode()
    assert "JST" in page
    assert "opscore_tz=" in page  # the base template names the browser's zone

    client.cookies["opscore_tz"] = "Nowhere/Land"
    assert moment(task.due_at) in client.get(url).content.decode()
