import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from decisions import selectors, services
from decisions.models import VersionStatus
from decisions.tables import DecisionTable, from_jdm
from opscore.actors import Actor
from processes.orders.rules import ORDER_CARRIER
from tests.factories import start_order, user_with_perms

pytestmark = pytest.mark.django_db


def _login(username: str) -> tuple[Client, Actor]:
    user = User.objects.create_superuser(username, f"{username}@example.test", "pw-123-secret")
    client = Client()
    client.force_login(user)
    return client, Actor.for_user(user)


@pytest.fixture
def author_client():
    return _login("alice")


@pytest.fixture
def publisher_client():
    return _login("bob")


def table_post(table: DecisionTable, *, note: str = "") -> dict[str, str]:
    data = {"settings-hit_policy": table.hit_policy, "settings-note": note}
    for prefix, columns in (("inputs", table.inputs), ("outputs", table.outputs)):
        data |= {f"{prefix}-TOTAL_FORMS": str(len(columns) + 1),
                 f"{prefix}-INITIAL_FORMS": str(len(columns)),
                 f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}  # fmt: skip
        for i, column in enumerate(columns):
            data |= {f"{prefix}-{i}-field": column.field, f"{prefix}-{i}-label": column.label}
            if prefix == "inputs":
                data[f"{prefix}-{i}-kind"] = column.kind
        if prefix == "inputs":
            data[f"{prefix}-{len(columns)}-kind"] = "any"  # the spare column's select
    data |= {"rules-TOTAL_FORMS": str(len(table.rows)), "rules-INITIAL_FORMS": str(len(table.rows)),
             "rules-MIN_NUM_FORMS": "0", "rules-MAX_NUM_FORMS": "1000"}  # fmt: skip
    for n, row in enumerate(table.rows):
        data |= {f"rules-{n}-rule_id": row.id, f"rules-{n}-description": row.description,
                 f"rules-{n}-ORDER": str(n + 1)}  # fmt: skip
        for i, column in enumerate(table.inputs):
            data[f"rules-{n}-in_{i}"] = row.inputs.get(column.field, "")
        for i, column in enumerate(table.outputs):
            data[f"rules-{n}-out_{i}"] = row.outputs.get(column.field, "")
    return data


def _draft(carrier_rules, actor):
    return services.create_draft(rule_set=carrier_rules, actor=actor)


def test_the_table_is_edited_as_rows_and_cells_and_saved(carrier_rules, author_client):
    client, actor = author_client
    draft = _draft(carrier_rules, actor)
    url = reverse("admin:decisions_rulesetversion_table", args=[draft.pk])
    page = client.get(url).content.decode()
    assert "when postcode_area" in page
    assert 'value="&quot;freightline&quot;"' in page

    data = table_post(from_jdm(draft.content), note="lighter freight threshold")
    data["rules-0-in_0"] = "> 15"
    # A new row added in a spare slot, moved to the top.
    data |= {"rules-TOTAL_FORMS": "4", "rules-3-rule_id": "islands", "rules-3-ORDER": "0",
             "rules-3-in_1": '"ZE", "HS"', "rules-3-out_0": '"islandhop"'}  # fmt: skip
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]

    draft.refresh_from_db()
    table = from_jdm(draft.content)
    assert [row.id for row in table.rows] == ["islands", "freight", "north", "south"]
    assert table.row_by_id("freight").inputs["weight_kg"] == "> 15"
    assert [c.kind for c in table.inputs] == ["number", "string"]
    assert draft.note == "lighter freight threshold"


def test_a_malformed_cell_is_refused_with_the_error_shown_and_nothing_saved(
    carrier_rules, author_client
):
    client, actor = author_client
    draft = _draft(carrier_rules, actor)
    before = draft.content
    data = table_post(from_jdm(draft.content))
    data["rules-1-in_1"] = 'matches($, "^[A-L]"'
    response = client.post(reverse("admin:decisions_rulesetversion_table", args=[draft.pk]), data)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="errornote"' in page
    assert "row 2, column &#x27;postcode_area&#x27;" in page
    assert "is not a valid expression" in page
    draft.refresh_from_db()
    assert draft.content == before


def test_explain_page_highlights_the_matched_row(carrier_rules, author_client):
    client, _ = author_client
    record = services.decide(
        rule_set=ORDER_CARRIER,
        inputs={"weight_kg": 2, "postcode_area": "SW"},
        instance=start_order(),
        step="dispatch.execute",
    )
    page = client.get(
        reverse("admin:decisions_decisionrecord_change", args=[record.pk])
    ).content.decode()
    assert 'id="rule-south" class="matched selected"' in page
    assert 'id="rule-north" class=""' in page
    assert "<code>SW</code>" in page
    assert "same answer with order-carrier v1" in page


def test_publish_screen_shows_the_backtest_and_enforces_four_eyes(
    carrier_rules, author_client, publisher_client
):
    client, author = author_client
    for area in ["AB", "SW", "SW"]:
        services.decide(rule_set=ORDER_CARRIER, inputs={"weight_kg": 2, "postcode_area": area})
    draft = _draft(carrier_rules, author)
    table = from_jdm(draft.content)
    data = table_post(table)
    data["rules-2-out_0"] = '"parcelco"'
    client.post(reverse("admin:decisions_rulesetversion_table", args=[draft.pk]), data)
    services.submit_for_review(version=draft, actor=author)
    url = reverse("admin:decisions_rulesetversion_publish", args=[draft.pk])

    page = client.get(url).content.decode()
    assert "2 outcome(s) change" in page
    assert "southexpress</td><td>parcelco</td><td>2</td>" in page
    assert "Row <code>south</code> changed" in page

    refused = client.post(url, follow=True).content.decode()
    assert "four-eyes" in refused
    draft.refresh_from_db()
    assert draft.status == VersionStatus.IN_REVIEW

    other, _ = publisher_client
    assert other.post(url).status_code == 302
    assert selectors.published_version(rule_set=carrier_rules).pk == draft.pk


def test_publish_screen_tells_a_reader_without_the_permission_why_there_is_no_button(
    carrier_rules, author_client
):
    _, author = author_client
    draft = _draft(carrier_rules, author)
    services.submit_for_review(version=draft, actor=author)
    reader = Client()
    reader.force_login(user_with_perms("decisions.view_ruleset", "decisions.view_rulesetversion"))
    url = reverse("admin:decisions_rulesetversion_publish", args=[draft.pk])

    page = reader.get(url).content.decode()
    assert "is in review; publishing it takes a person with the publish permission" in page
    assert "is not in review" not in page
    assert f'value="Publish v{draft.number}"' not in page
    assert reader.post(url).status_code == 403
    draft.refresh_from_db()
    assert draft.status == VersionStatus.IN_REVIEW


def test_diff_page_compares_two_versions_readably(carrier_rules, author_client):
    client, actor = author_client
    draft = _draft(carrier_rules, actor)
    table = from_jdm(draft.content)
    services.save_draft_table(
        version=draft,
        table=DecisionTable(table.hit_policy, table.inputs, table.outputs, table.rows[:2]),
        actor=actor,
    )
    page = client.get(
        reverse("admin:decisions_rulesetversion_diff", args=[draft.pk])
    ).content.decode()
    assert "Row removed: <code>south</code>" in page


def test_override_report_shows_rates_per_rule_set_and_rule(carrier_rules, author_client):
    client, actor = author_client
    orders = [start_order() for _ in range(4)]
    for order in orders:
        services.decide(
            rule_set=ORDER_CARRIER, inputs={"weight_kg": 2, "postcode_area": "AB"}, instance=order
        )
    services.record_override(
        instance=orders[0],
        rule_set=ORDER_CARRIER,
        chosen={"carrier": "southexpress"},
        reason="depot closed",
        actor=actor,
    )
    page = client.get(reverse("admin:decisions_override_changelist")).content.decode()
    assert "Override rate" in page
    assert "<td>4</td><td>1</td><td>25%</td>" in page


def test_roll_back_is_one_admin_action(carrier_rules, author_client, publisher_client):
    client, author = author_client
    draft = services.submit_for_review(version=_draft(carrier_rules, author), actor=author)
    services.publish_version(version=draft, actor=publisher_client[1])
    response = client.post(
        reverse("admin:decisions_ruleset_changelist"),
        {"action": "roll_back", "_selected_action": [carrier_rules.pk]},
        follow=True,
    )
    assert "Rolled back" in response.content.decode()
    assert selectors.published_version(rule_set=carrier_rules).number == 1


def test_every_decision_admin_page_renders(carrier_rules, author_client):
    client, actor = author_client
    services.decide(rule_set=ORDER_CARRIER, inputs={"weight_kg": 2, "postcode_area": "AB"})
    draft = services.submit_for_review(version=_draft(carrier_rules, actor), actor=actor)
    backtest = selectors.latest_backtest(version=draft)
    urls = [
        reverse("admin:decisions_ruleset_changelist"),
        reverse("admin:decisions_ruleset_change", args=[carrier_rules.pk]),
        reverse("admin:decisions_ruleset_add"),
        reverse("admin:decisions_rulesetversion_changelist"),
        reverse("admin:decisions_rulesetversion_change", args=[draft.pk]),
        reverse("admin:decisions_decisionrecord_changelist"),
        reverse("admin:decisions_backtest_changelist"),
        reverse("admin:decisions_backtest_change", args=[backtest.pk]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
    version_page = client.get(urls[4]).content.decode()
    assert "Review and publish" in version_page
    assert "1 evaluated" in version_page


def test_a_rule_set_created_in_admin_starts_with_an_empty_draft(author_client):
    client, _ = author_client
    response = client.post(
        reverse("admin:decisions_ruleset_add"),
        {"slug": "returns", "name": "Returns routing", "description": ""},
    )
    assert response.status_code == 302
    rule_set = selectors.ruleset_by_slug(slug="returns")
    assert rule_set.versions.get().status == VersionStatus.DRAFT
