"""In the demo two people take a rule change to production: `author` drafts and submits it,
`publisher` publishes it, and the next decision uses it."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from decisions import selectors, services
from decisions.models import RuleSet, RuleSetVersion, VersionStatus
from decisions.tables import from_jdm
from processes.orders.rules import ORDER_CARRIER
from tests.decisions.test_admin import table_post

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-123"


def _logged_in(username: str) -> Client:
    """Logged in through the admin's login form, with the password seed_demo set."""
    client = Client()
    response = client.post(
        reverse("admin:login"), {"username": username, "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 302, response.text
    return client


def _action(client: Client, model: str, action: str, pk: int):
    return client.post(
        reverse(f"admin:decisions_{model}_changelist"),
        {"action": action, "_selected_action": [pk]},
    )


def test_the_author_drafts_and_submits_and_only_the_publisher_publishes():
    call_command("seed_demo", "--password", PASSWORD)
    carrier = RuleSet.objects.get(slug=ORDER_CARRIER)
    author, publisher = _logged_in("author"), _logged_in("publisher")
    south = {"weight_kg": 2, "postcode_area": "SW"}
    assert services.decide(rule_set=ORDER_CARRIER, inputs=south).outputs["carrier"] == (
        "southexpress"
    )

    _action(author, "ruleset", "new_draft", carrier.pk)
    draft = RuleSetVersion.objects.get(rule_set=carrier, status=VersionStatus.DRAFT)
    data = table_post(from_jdm(draft.content), note="parcelco takes the south")
    data["rules-2-out_0"] = '"parcelco"'
    edited = author.post(reverse("admin:decisions_rulesetversion_table", args=[draft.pk]), data)
    _action(author, "rulesetversion", "submit_for_review", draft.pk)
    draft.refresh_from_db()
    publish_url = reverse("admin:decisions_rulesetversion_publish", args=[draft.pk])

    assert edited.status_code == 302
    assert draft.status == VersionStatus.IN_REVIEW
    assert author.post(publish_url).status_code == 403  # an author does not publish
    draft.refresh_from_db()
    assert draft.status == VersionStatus.IN_REVIEW
    assert "Publish" in publisher.get(publish_url).text
    assert publisher.post(publish_url).status_code == 302

    assert selectors.published_version(rule_set=carrier).pk == draft.pk
    assert services.decide(rule_set=ORDER_CARRIER, inputs=south).outputs["carrier"] == "parcelco"
