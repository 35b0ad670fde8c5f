"""A rule change made by two people in a browser: the author starts a draft of the order
policy, edits a cell of its table, submits it (which backtests it against past decisions) and
cannot publish it; the publisher reads the backtest and publishes; the next order is decided by
the new version."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from decisions.models import DecisionRecord, RuleSetVersion, VersionStatus
from opscore.actors import Actor
from processes.orders.models import OrderState
from processes.orders.rules import ORDER_POLICY
from tests.factories import start_order
from tests.journeys.conftest import log_in, screenshot, worker_round

pytestmark = pytest.mark.browser


def _messages(page):
    return page.locator("ul.messagelist")


def _run_action(page, *, row_text: str, action: str) -> None:
    row = page.locator("#result_list tbody tr").filter(has_text=row_text)
    row.locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", action)
    with page.expect_navigation():
        page.click("button[name=index]")


def test_a_rule_change_goes_from_author_to_publisher_and_decides_the_next_order(page, demo_day):
    author = User.objects.get(username="author")
    publisher = User.objects.get(username="publisher")

    log_in(page, "author")
    page.goto("/admin/decisions/ruleset/")
    _run_action(page, row_text=ORDER_POLICY, action="new_draft")
    expect(_messages(page)).to_contain_text(f"Created {ORDER_POLICY} v2")
    draft = RuleSetVersion.objects.get(rule_set__slug=ORDER_POLICY, number=2)
    assert (draft.status, draft.created_by) == (VersionStatus.DRAFT, author)

    page.goto(f"/admin/decisions/rulesetversion/{draft.pk}/change/")
    with page.expect_navigation():
        page.get_by_role("link", name="Edit table").click()
    # High value starts at 2000, not 1000: both rows that test the value.
    page.fill("input[name='rules-0-in_0']", ">= 2000")
    page.fill("input[name='rules-1-in_0']", ">= 2000")
    page.fill("textarea[name='settings-note']", "review from 2000")
    screenshot(page, "rule-change-edit-table")
    with page.expect_navigation():
        page.get_by_role("button", name="Validate and save").click()
    expect(_messages(page)).to_contain_text("Saved the table")

    page.goto("/admin/decisions/rulesetversion/")
    _run_action(page, row_text=f"{ORDER_POLICY} v2", action="submit_for_review")
    expect(_messages(page)).to_contain_text("for review")
    page.goto(f"/admin/decisions/rulesetversion/{draft.pk}/publish/")
    # Of the demo's six orders, one (1,800) no longer needs a review.
    expect(page.locator(".backtest")).to_contain_text("1 outcome(s) change")
    expect(page.get_by_role("button", name="Publish v2")).to_have_count(0)  # not the author's
    screenshot(page, "rule-change-author-submitted")
    draft.refresh_from_db()
    assert (draft.status, draft.submitted_by, draft.note) == (
        VersionStatus.IN_REVIEW,
        author,
        "review from 2000",
    )

    log_in(page, "publisher")
    page.goto(f"/admin/decisions/rulesetversion/{draft.pk}/change/")
    with page.expect_navigation():
        page.get_by_role("link", name="Review and publish").click()
    expect(page.locator(".backtest")).to_contain_text("1 outcome(s) change")
    expect(page.locator("#content")).to_contain_text("review from 2000")
    screenshot(page, "rule-change-publisher-review")
    with page.expect_navigation():
        page.get_by_role("button", name="Publish v2").click()
    expect(_messages(page)).to_contain_text(f"Published {ORDER_POLICY} v2")
    draft.refresh_from_db()
    assert (draft.status, draft.published_by) == (VersionStatus.PUBLISHED, publisher)
    assert RuleSetVersion.objects.get(rule_set__slug=ORDER_POLICY, number=1).status == (
        VersionStatus.RETIRED
    )

    # The shop's next order, 1,500: under v1 a person would review it; under v2 it ships.
    order = start_order(
        actor=Actor.for_user(User.objects.get(username="requester")), value=1500, weight_kg=2.0
    )
    worker_round()
    order.refresh_from_db()
    assert order.state == OrderState.AWAITING_POD
    record = DecisionRecord.objects.get(instance_id=order.pk, rule_set__slug=ORDER_POLICY)
    assert record.version == draft
    page.goto(f"/admin/decisions/decisionrecord/{record.pk}/change/")
    expect(page.locator("#content")).to_contain_text(f"{ORDER_POLICY} v2")
    expect(page.locator("#content")).to_contain_text("low-risk")
    screenshot(page, "rule-change-next-decision")
