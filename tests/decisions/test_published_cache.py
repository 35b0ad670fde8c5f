"""Each process keeps the published versions it read: never stale, in this process or another."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from decisions import services
from decisions.models import RuleSetVersion, VersionStatus
from tests.factories import reviewed_draft

pytestmark = pytest.mark.django_db

INPUTS = {"weight_kg": 1, "postcode_area": "Z"}


def _rule_set_reads(queries) -> list[str]:
    tables = ('"decisions_ruleset"', '"decisions_rulesetversion"')
    selects = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]
    return [sql for sql in selects if any(table in sql for table in tables)]


def test_a_second_decision_reads_no_rule_set_only_the_generation(carrier_rules):
    services.decide(rule_set="order-carrier", inputs=INPUTS)
    with CaptureQueriesContext(connection) as queries:
        record = services.decide(rule_set="order-carrier", inputs=INPUTS)
    assert record.outputs == {"carrier": "southexpress"}
    assert record.version.number == 1
    assert _rule_set_reads(queries) == []
    assert len([q for q in queries if "decisions_ruleset_generation" in q["sql"]]) == 1


def test_a_publication_is_used_by_the_next_decision(carrier_rules, author, publisher):
    assert services.decide(rule_set="order-carrier", inputs=INPUTS).outputs == {
        "carrier": "southexpress"
    }
    services.publish_version(version=reviewed_draft(carrier_rules, author), actor=publisher)
    record = services.decide(rule_set="order-carrier", inputs=INPUTS)
    assert record.outputs == {"carrier": "parcelco"}
    assert record.version.number == 2

    services.rollback_ruleset(rule_set=carrier_rules, actor=publisher)
    assert services.decide(rule_set="order-carrier", inputs=INPUTS).version.number == 1


def test_a_version_changed_without_a_service_is_seen_all_the_same(carrier_rules, author):
    services.decide(rule_set="order-carrier", inputs=INPUTS)
    draft = reviewed_draft(carrier_rules, author)
    # Bulk updates, no service, no signal: the database triggers still move the generation.
    RuleSetVersion.objects.filter(rule_set=carrier_rules, number=1).update(
        status=VersionStatus.RETIRED, retired_at=timezone.now()
    )
    RuleSetVersion.objects.filter(pk=draft.pk).update(status=VersionStatus.PUBLISHED)
    record = services.decide(rule_set="order-carrier", inputs=INPUTS)
    assert record.outputs == {"carrier": "parcelco"}
    assert record.version_id == draft.pk


def test_a_repeat_keeps_its_first_decision_even_once_the_rule_set_is_retired(
    carrier_rules, publisher
):
    first = services.decide(rule_set="order-carrier", inputs=INPUTS, idempotency_key="order:1:x")
    services.retire_ruleset(rule_set=carrier_rules, actor=publisher)
    again = services.decide(rule_set="order-carrier", inputs=INPUTS, idempotency_key="order:1:x")
    assert again.pk == first.pk
    assert again.outputs == {"carrier": "southexpress"}
