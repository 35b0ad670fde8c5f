import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from decisions import selectors, services
from decisions.errors import LifecycleError, MalformedRuleSet, NoPublishedVersion
from decisions.models import DecisionRecord, RuleSetVersion, VersionStatus
from decisions.tables import Row, from_jdm
from opscore.actors import Actor
from tests.factories import reviewed_draft, user_with_perms

pytestmark = pytest.mark.django_db


def test_publishing_replaces_the_published_version_and_changes_decisions(
    carrier_rules, author, publisher
):
    draft = reviewed_draft(carrier_rules, author)
    services.publish_version(version=draft, actor=publisher)

    assert selectors.published_version(rule_set=carrier_rules).number == 2
    assert carrier_rules.versions.get(number=1).status == VersionStatus.RETIRED
    record = services.decide(
        rule_set="order-carrier", inputs={"weight_kg": 1, "postcode_area": "Z"}
    )
    assert record.outputs == {"carrier": "parcelco"}
    assert record.version.number == 2


def test_author_and_submitter_can_never_publish_their_own_version(carrier_rules, author):
    draft = reviewed_draft(carrier_rules, author)
    with pytest.raises(LifecycleError, match="four-eyes"):
        services.publish_version(version=draft, actor=author)
    # Someone else submitting it does not launder the author's edits either.
    draft.refresh_from_db()
    assert draft.status == VersionStatus.IN_REVIEW
    assert selectors.published_version(rule_set=carrier_rules).number == 1


def test_an_editor_of_the_draft_cannot_publish_it_either(carrier_rules, author, publisher):
    draft = services.create_draft(rule_set=carrier_rules, actor=author)
    table = from_jdm(draft.content)
    edited = (*table.rows[:-1], Row("south", "Everything else", {}, {"carrier": '"parcelco"'}))
    services.save_draft_table(
        version=draft,
        table=type(table)(table.hit_policy, table.inputs, table.outputs, edited),
        actor=publisher,
    )
    services.submit_for_review(version=draft, actor=author)
    with pytest.raises(LifecycleError, match="four-eyes"):
        services.publish_version(version=draft, actor=publisher)


def test_publishing_needs_the_publish_permission(carrier_rules, author):
    draft = reviewed_draft(carrier_rules, author)
    clerk = Actor.for_user(user_with_perms())
    with pytest.raises(LifecycleError, match="permission"):
        services.publish_version(version=draft, actor=clerk)


def test_only_a_version_in_review_can_be_published(carrier_rules, author, publisher):
    draft = services.create_draft(rule_set=carrier_rules, actor=author)
    with pytest.raises(LifecycleError, match="not in review"):
        services.publish_version(version=draft, actor=publisher)


def test_the_database_refuses_a_second_published_version(carrier_rules):
    with pytest.raises(IntegrityError), transaction.atomic():
        RuleSetVersion.objects.create(
            rule_set=carrier_rules,
            number=9,
            status=VersionStatus.PUBLISHED,
            content=carrier_rules.versions.get().content,
            content_digest="x",
        )


def test_frozen_versions_cannot_be_edited(carrier_rules, author):
    draft = reviewed_draft(carrier_rules, author)
    with pytest.raises(LifecycleError, match="only drafts"):
        services.save_draft_table(version=draft, table=from_jdm(draft.content), actor=author)


def test_an_empty_draft_cannot_be_submitted(carrier_rules, author):
    rule_set = services.create_ruleset(slug="returns", name="Returns", actor=author)
    with pytest.raises(MalformedRuleSet):
        services.submit_for_review(version=rule_set.versions.get(), actor=author)


def test_retire_then_roll_back_are_one_action_each(carrier_rules, author, publisher):
    draft = reviewed_draft(carrier_rules, author)
    services.publish_version(version=draft, actor=publisher)

    restored = services.rollback_ruleset(rule_set=carrier_rules, actor=publisher)
    assert restored.number == 1
    assert selectors.published_version(rule_set=carrier_rules).number == 1

    services.retire_ruleset(rule_set=carrier_rules, actor=publisher)
    with pytest.raises(NoPublishedVersion, match="no published version"):
        services.decide(rule_set="order-carrier", inputs={"weight_kg": 1, "postcode_area": "A"})

    assert services.rollback_ruleset(rule_set=carrier_rules, actor=publisher).number == 1
    history = carrier_rules.versions.get(number=1).history.values_list("status", flat=True)
    assert list(history)[:3] == ["published", "retired", "published"]


def test_a_retried_step_keeps_its_first_decision_across_a_publish(carrier_rules, author, publisher):
    inputs = {"weight_kg": 1, "postcode_area": "Z"}
    first = services.decide(rule_set="order-carrier", inputs=inputs, idempotency_key="order:1:x")
    services.publish_version(version=reviewed_draft(carrier_rules, author), actor=publisher)
    again = services.decide(rule_set="order-carrier", inputs=inputs, idempotency_key="order:1:x")
    assert again.pk == first.pk
    assert again.outputs == {"carrier": "southexpress"}
    fresh = services.decide(rule_set="order-carrier", inputs=inputs, idempotency_key="order:2:x")
    assert fresh.outputs == {"carrier": "parcelco"}


def test_a_retried_step_reads_its_decision_back_without_the_database_refusing_a_row(
    carrier_rules,
):
    # PostgreSQL logs every refused statement as an ERROR: a routine retry must not add one.
    inputs = {"weight_kg": 1, "postcode_area": "Z"}
    first = services.decide(rule_set="order-carrier", inputs=inputs, idempotency_key="order:7:x")
    refused = []

    def watch(execute, sql, params, many, context):
        try:
            return execute(sql, params, many, context)
        except DatabaseError as error:
            refused.append(f"{type(error).__name__}: {sql}")
            raise

    with connection.execute_wrapper(watch):
        again = services.decide(
            rule_set="order-carrier", inputs=inputs, idempotency_key="order:7:x"
        )
        with transaction.atomic():
            inside = services.decide(
                rule_set="order-carrier", inputs=inputs, idempotency_key="order:7:x"
            )
    assert refused == []
    assert again.pk == inside.pk == first.pk
    assert DecisionRecord.objects.filter(idempotency_key="order:7:x").count() == 1


def test_a_reviewer_who_sent_a_version_back_can_still_publish_it(carrier_rules, author, publisher):
    draft = reviewed_draft(carrier_rules, author)
    services.return_to_draft(version=draft, actor=publisher)
    services.submit_for_review(version=draft, actor=author)
    assert services.publish_version(version=draft, actor=publisher).status == "published"
