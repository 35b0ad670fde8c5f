"""Admin trust boundaries, logged in as real non-superuser roles: history pages are read-only,
and every admin action and custom admin view needs its own permission.

Each refusal also proves that nothing changed: state, version, context, event count, key and
secret rows, drafts and versions.
"""

from __future__ import annotations

import pytest
from django.contrib import admin as django_admin
from django.test import Client
from django.urls import reverse
from simple_history.admin import SimpleHistoryAdmin

from approvals import selectors as task_selectors
from approvals.models import EscalationPolicy, ReviewTask
from audit.models import Event
from decisions import services as decision_services
from decisions.models import Backtest, RuleSet, RuleSetVersion, VersionStatus
from integrations.models import ApiKey, Integration, WebhookSecret
from integrations.services import create_api_key
from opscore.actors import SYSTEM, Actor
from processes.invoices.models import Invoice, InvoiceState
from processes.orders.models import Order, OrderState
from processes.orders.rules import ORDER_CARRIER
from tests.factories import order_in_review, start_invoice, user_with_perms, webhook_source
from tests.workflows.drain import drain_executions

pytestmark = pytest.mark.django_db

VIEW_ONLY = (
    "processes.view_order",
    "processes.view_invoice",
    "decisions.view_ruleset",
    "decisions.view_rulesetversion",
    "decisions.view_backtest",
    "approvals.view_escalationpolicy",
    "integrations.view_integration",
    "integrations.view_apikey",
    "integrations.view_webhooksource",
    "integrations.view_webhooksecret",
    "integrations.view_inboundevent",
)


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer() -> Client:
    return _client(user_with_perms(*VIEW_ONLY, username="vera"))


def _events() -> int:
    return Event.objects.count()


def _snapshot(instance) -> tuple:
    instance.refresh_from_db()
    return (instance.state, instance.version, instance.context)


def _history_url(obj, history_id: int) -> str:
    opts = obj._meta
    return reverse(
        f"admin:{opts.app_label}_{opts.model_name}_simple_history", args=[obj.pk, history_id]
    )


def _oldest_history_id(obj) -> int:
    return obj.history.order_by("history_id").values_list("history_id", flat=True).first()


# --- hole 1: no history revert -----------------------------------------------------------------


def test_every_history_admin_is_read_only():
    from opscore.admin_base import HistoryReadOnlyAdmin

    history_admins = [
        model_admin
        for model_admin in django_admin.site._registry.values()
        if isinstance(model_admin, SimpleHistoryAdmin)
    ]
    assert len(history_admins) >= 5
    for model_admin in history_admins:
        assert isinstance(model_admin, HistoryReadOnlyAdmin), type(model_admin).__name__


def test_history_pages_stay_readable_by_view_only_staff(viewer):
    order = order_in_review()
    listing = viewer.get(reverse("admin:processes_order_history", args=[order.pk]))
    assert listing.status_code == 200
    detail = viewer.get(_history_url(order, _oldest_history_id(order)))
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content


@pytest.mark.parametrize("user_perms", [VIEW_ONLY, (*VIEW_ONLY, "processes.change_order")])
def test_reverting_an_order_from_history_is_refused(user_perms):
    client = _client(user_with_perms(*user_perms))
    order = order_in_review()
    before, events = _snapshot(order), _events()
    assert before[0] == OrderState.IN_REVIEW

    response = client.post(_history_url(order, _oldest_history_id(order)), {})

    assert response.status_code == 403
    assert _snapshot(order) == before
    assert _events() == events


def test_reverting_an_invoice_from_history_is_refused(viewer):
    invoice = start_invoice(amount=4000)
    drain_executions()
    before, events = _snapshot(invoice), _events()
    assert before[0] == InvoiceState.AWAITING_MANAGER

    response = viewer.post(_history_url(invoice, _oldest_history_id(invoice)), {})

    assert response.status_code == 403
    assert _snapshot(invoice) == before
    assert _events() == events


def test_a_retired_rule_set_version_cannot_be_published_again_from_history(viewer):
    rules = RuleSet.objects.get(slug=ORDER_CARRIER)
    publisher = Actor.for_user(user_with_perms("decisions.publish_ruleset", username="pam"))
    retired = decision_services.retire_ruleset(rule_set=rules, actor=publisher)
    published_row = retired.history.filter(status=VersionStatus.PUBLISHED).order_by("history_id")
    history_id = published_row.values_list("history_id", flat=True).first()
    versions_history = RuleSetVersion.history.count()

    response = viewer.post(_history_url(retired, history_id), {"note": "back"})

    assert response.status_code == 403
    retired.refresh_from_db()
    assert retired.status == VersionStatus.RETIRED
    assert retired.published_by_id is None or retired.published_by_id == publisher.user.pk
    assert not rules.versions.filter(status=VersionStatus.PUBLISHED).exists()
    assert RuleSetVersion.history.count() == versions_history


def test_a_review_task_cannot_be_rewritten_through_any_history_url(viewer):
    order = order_in_review()
    task = task_selectors.active_task_for(instance=order)
    reviewer_client = _client(
        user_with_perms(
            *VIEW_ONLY, "approvals.work_reviewtask", "processes.review_order", group="reviewers"
        )
    )
    before = ReviewTask.objects.filter(pk=task.pk).values().get()
    order_before, events = _snapshot(order), _events()
    for client in (viewer, reviewer_client):
        response = client.post(f"/admin/approvals/reviewtask/{task.pk}/history/1/", {})
        assert response.status_code in (302, 403, 404)
        response = client.post(_history_url(order, _oldest_history_id(order)), {})
        assert response.status_code == 403
    assert ReviewTask.objects.filter(pk=task.pk).values().get() == before
    assert _snapshot(order) == order_before
    assert _events() == events


def test_an_escalation_policy_cannot_be_reverted_from_history():
    client = _client(
        user_with_perms("approvals.view_escalationpolicy", "approvals.change_escalationpolicy")
    )
    policy = EscalationPolicy.objects.get(workflow="order", step="manual.review")
    oldest = _oldest_history_id(policy)
    policy.sla = policy.sla * 2
    policy.save()

    response = client.post(_history_url(policy, oldest), {})

    assert response.status_code == 403
    policy_after = EscalationPolicy.objects.get(pk=policy.pk)
    assert policy_after.sla == policy.sla


# --- hole 2: admin actions and custom views need their permissions ------------------------------


def _action(client: Client, model: str, action: str, pks: list[int], **extra):
    return client.post(
        reverse(f"admin:{model}_changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in pks], **extra},
    )


def _keys() -> list[tuple]:
    return list(ApiKey.objects.order_by("pk").values_list("pk", "prefix", "revoked_at"))


@pytest.mark.parametrize("action", ["rotate_selected", "revoke_selected"])
def test_view_only_staff_can_neither_rotate_nor_revoke_keys(viewer, action):
    key, _ = create_api_key(
        integration=Integration.objects.create(name="shop"),
        scopes=["events:write"],
        event_types=["*"],
    )
    before = _keys()

    response = _action(viewer, "integrations_apikey", action, [key.pk])
    page = viewer.get(reverse("admin:integrations_apikey_changelist"))

    assert response.status_code == 302
    assert _keys() == before
    assert b"copy it now" not in page.content
    assert f"You lack the permission to run &#x27;{action}&#x27;".encode() in page.content


def test_an_integrator_rotates_a_key_and_reads_the_new_one_once_from_the_session():
    integrator = _client(
        user_with_perms(
            "integrations.view_apikey", "integrations.rotate_apikey", "integrations.revoke_apikey"
        )
    )
    key, _ = create_api_key(
        integration=Integration.objects.create(name="shop"),
        scopes=["events:write"],
        event_types=["*"],
    )

    response = _action(integrator, "integrations_apikey", "rotate_selected", [key.pk])

    assert response.status_code == 302
    new = ApiKey.objects.get(pk__gt=key.pk)
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    # The key never travels in the (signed, not encrypted) messages cookie.
    assert (
        "messages" not in response.cookies or new.prefix not in response.cookies["messages"].value
    )
    first = integrator.get(reverse("admin:integrations_apikey_changelist"))
    assert new.prefix.encode() in first.content
    assert b"copy it now" in first.content
    assert "messages" not in first.cookies or not first.cookies["messages"].value
    again = integrator.get(reverse("admin:integrations_apikey_changelist"))
    assert b"copy it now" not in again.content


def test_view_only_staff_can_neither_add_nor_read_a_webhook_secret(viewer):
    source = webhook_source(name="carrier")
    secret = source.secrets.get().secret
    before = list(WebhookSecret.objects.values_list("pk", "secret"))

    _action(viewer, "integrations_webhooksource", "add_secret", [source.pk])
    listing = viewer.get(reverse("admin:integrations_webhooksource_changelist"))
    page = viewer.get(reverse("admin:integrations_webhooksource_change", args=[source.pk]))

    assert list(WebhookSecret.objects.values_list("pk", "secret")) == before
    assert page.status_code == 200
    assert secret.encode() not in page.content
    assert b"whsec_" not in listing.content.replace(b"whsec_<", b"")


def test_whoever_may_add_a_secret_gets_it_shown_once():
    client = _client(
        user_with_perms("integrations.view_webhooksource", "integrations.add_webhooksecret")
    )
    source = webhook_source(name="carrier")

    response = _action(client, "integrations_webhooksource", "add_secret", [source.pk])

    assert response.status_code == 302
    new = source.secrets.order_by("-pk").first()
    assert source.secrets.count() == 2
    assert (
        new.secret.encode()
        in client.get(reverse("admin:integrations_webhooksource_changelist")).content
    )


def _rule_state() -> tuple:
    return (
        list(RuleSetVersion.objects.order_by("pk").values_list("pk", "status", "content_digest")),
        Backtest.objects.count(),
    )


@pytest.fixture
def carrier_draft() -> RuleSetVersion:
    return decision_services.create_draft(
        rule_set=RuleSet.objects.get(slug=ORDER_CARRIER), actor=SYSTEM
    )


@pytest.mark.parametrize(
    ("model", "action", "target"),
    [
        ("decisions_ruleset", "new_draft", "rule_set"),
        ("decisions_ruleset", "retire_published", "rule_set"),
        ("decisions_ruleset", "roll_back", "rule_set"),
        ("decisions_rulesetversion", "submit_for_review", "draft"),
        ("decisions_rulesetversion", "run_backtest", "draft"),
        ("decisions_rulesetversion", "return_to_draft", "in_review"),
    ],
)
def test_view_only_staff_can_run_no_rule_set_action(viewer, carrier_draft, model, action, target):
    if target == "in_review":
        decision_services.submit_for_review(version=carrier_draft, actor=SYSTEM)
    pk = carrier_draft.rule_set_id if target == "rule_set" else carrier_draft.pk
    before = _rule_state()

    response = _action(viewer, model, action, [pk])

    assert _rule_state() == before
    page = viewer.get(response["Location"])
    assert f"You lack the permission to run &#x27;{action}&#x27;".encode() in page.content


def test_change_permission_alone_does_not_edit_or_publish_a_draft(carrier_draft):
    editor = _client(
        user_with_perms("decisions.view_rulesetversion", "decisions.change_rulesetversion")
    )
    before = _rule_state()
    table = editor.post(reverse("admin:decisions_rulesetversion_table", args=[carrier_draft.pk]))
    publish = editor.post(
        reverse("admin:decisions_rulesetversion_publish", args=[carrier_draft.pk])
    )
    submit = _action(editor, "decisions_rulesetversion", "submit_for_review", [carrier_draft.pk])
    assert (table.status_code, publish.status_code) == (403, 403)
    assert submit.status_code in (200, 302)
    assert _rule_state() == before
    # The review page itself stays readable.
    assert (
        editor.get(
            reverse("admin:decisions_rulesetversion_publish", args=[carrier_draft.pk])
        ).status_code
        == 200
    )


def test_an_author_drafts_and_submits_and_a_publisher_publishes():
    author = _client(
        user_with_perms(
            "decisions.view_ruleset",
            "decisions.view_rulesetversion",
            "decisions.author_ruleset",
            "decisions.submit_ruleset",
            "decisions.backtest_ruleset",
            username="author",
        )
    )
    publisher = _client(
        user_with_perms(
            "decisions.view_ruleset",
            "decisions.view_rulesetversion",
            "decisions.publish_ruleset",
            username="publisher",
        )
    )
    rules = RuleSet.objects.get(slug=ORDER_CARRIER)

    _action(author, "decisions_ruleset", "new_draft", [rules.pk])
    draft = rules.versions.get(status=VersionStatus.DRAFT)
    _action(author, "decisions_rulesetversion", "submit_for_review", [draft.pk])
    draft.refresh_from_db()
    assert draft.status == VersionStatus.IN_REVIEW
    # The author may not publish; the publisher may not submit.
    assert (
        author.post(reverse("admin:decisions_rulesetversion_publish", args=[draft.pk])).status_code
        == 403
    )
    response = publisher.post(reverse("admin:decisions_rulesetversion_publish", args=[draft.pk]))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == VersionStatus.PUBLISHED
    assert draft.published_by.username == "publisher"


def test_view_only_staff_cannot_cancel_or_start_workflows(viewer):
    order = order_in_review()
    before, events = _snapshot(order), _events()
    _action(viewer, "processes_order", "cancel_selected", [order.pk])
    start = viewer.post(reverse("admin:integrations_manual_start"), {})
    assert start.status_code == 403
    assert _snapshot(order) == before
    assert _events() == events
    assert not Invoice.objects.exists()
    assert Order.objects.count() == 1


def test_a_refused_action_says_why_on_the_page():
    # Change permission on orders, but not the transition's cancel permission.
    client = _client(user_with_perms("processes.view_order", "processes.change_order"))
    order = order_in_review()
    before = _snapshot(order)
    response = _action(client, "processes_order", "cancel_selected", [order.pk])
    page = client.get(reverse("admin:processes_order_changelist"))
    again = client.get(reverse("admin:processes_order_changelist"))
    assert response.status_code == 302
    assert b"You lack the permission to run &#x27;cancel_selected&#x27;" in page.content
    assert b'value="cancel_selected"' not in again.content
    assert _snapshot(order) == before


def test_demo_roles_let_two_people_take_a_rule_change_to_production():
    from demo.seed import GROUP_PERMISSIONS, USERS

    users = {username: groups for username, groups, _ in USERS}
    assert users["author"] == ["rule authors"]
    assert users["publisher"] == ["publishers"]
    assert "decisions.author_ruleset" in GROUP_PERMISSIONS["rule authors"]
    assert "decisions.submit_ruleset" in GROUP_PERMISSIONS["rule authors"]
    assert "decisions.publish_ruleset" not in GROUP_PERMISSIONS["rule authors"]
    assert "decisions.publish_ruleset" in GROUP_PERMISSIONS["publishers"]
    assert "decisions.author_ruleset" not in GROUP_PERMISSIONS["publishers"]
