"""Every configuration change that alters how work is done is exactly one `config.*` event,
with the actor, the channel and the fields before and after, written with the change.

Changes are made as the real roles allowed to make them (the demo groups: rule authors,
publishers, integrators, supervisors; staff holding auth's change permissions), and each
refusal (the wrong role) is shown to record nothing and change nothing. Secrets (API keys,
their digests, webhook secrets, password hashes) never appear in an event.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.db.models import Max
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from approvals.models import EscalationPolicy
from audit.models import Event
from decisions import services as decision_services
from decisions.errors import LifecycleError
from decisions.models import RuleSet, VersionStatus
from decisions.tables import from_jdm
from demo.seed import GROUP_PERMISSIONS
from integrations.models import (
    ApiKey,
    EventType,
    Integration,
    Schedule,
    TriggerBinding,
    WebhookSecret,
    WebhookSource,
)
from opscore.actors import Actor
from processes.orders.rules import ORDER_CARRIER
from tests.decisions.test_admin import table_post
from tests.factories import UserFactory, user_with_perms

pytestmark = pytest.mark.django_db


# --- helpers -------------------------------------------------------------------------------


def in_role(group_name: str, username: str) -> User:
    """A staff member of one of the demo groups, holding exactly that group's permissions."""
    group, _ = Group.objects.get_or_create(name=group_name)
    for dotted in GROUP_PERMISSIONS[group_name]:
        app_label, codename = dotted.split(".")
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    user = UserFactory(username=username)
    user.groups.add(group)
    return User.objects.get(pk=user.pk)


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


class Recording:
    """The configuration events written since it was opened."""

    def __init__(self) -> None:
        self.after_seq = Event.objects.aggregate(last=Max("seq"))["last"] or 0

    def events(self) -> list[Event]:
        return list(
            Event.objects.filter(seq__gt=self.after_seq, type__startswith="config.").order_by("seq")
        )

    def one(self, type: str, *, actor: str, channel: str = "admin") -> Event:
        events = self.events()
        assert [event.type for event in events] == [type]
        event = events[0]
        assert (event.actor_ref, event.payload["channel"]) == (actor, channel)
        return event

    def none(self) -> None:
        assert self.events() == []


def before_after(event: Event, field: str) -> tuple:
    return event.payload["before"][field], event.payload["after"][field]


def action(client: Client, changelist: str, name: str, *pks: int):
    return client.post(
        reverse(f"admin:{changelist}_changelist"), {"action": name, "_selected_action": list(pks)}
    )


def superuser_client(username: str = "root") -> Client:
    return logged_in(User.objects.create_superuser(username, f"{username}@x.test", "pw-x-12345"))


# --- rule sets -----------------------------------------------------------------------------


def test_a_rule_change_from_draft_to_retirement_is_one_event_per_step_by_its_role():
    carrier = RuleSet.objects.get(slug=ORDER_CARRIER)
    author = logged_in(in_role("rule authors", "ana"))
    publisher = logged_in(in_role("publishers", "pat"))

    recording = Recording()
    action(author, "decisions_ruleset", "new_draft", carrier.pk)
    draft = carrier.versions.get(status=VersionStatus.DRAFT)
    event = recording.one("config.ruleset.draft_created", actor="ana")
    assert (event.instance_id, event.payload["after"]["status"]) == (draft.pk, "draft")
    assert event.payload["label"] == f"{ORDER_CARRIER} v{draft.number}"

    recording = Recording()
    data = table_post(from_jdm(draft.content), note="heavier freight")
    data["rules-0-in_0"] = "> 15"
    response = author.post(reverse("admin:decisions_rulesetversion_table", args=[draft.pk]), data)
    assert response.status_code == 302
    event = recording.one("config.ruleset.draft_edited", actor="ana")
    assert {"content_digest", "note"} <= set(event.payload["changed"])
    assert before_after(event, "note") == ("", "heavier freight")

    recording = Recording()
    action(author, "decisions_rulesetversion", "submit_for_review", draft.pk)
    event = recording.one("config.ruleset.submitted", actor="ana")
    assert before_after(event, "status") == ("draft", "in_review")

    # The author may not publish what they wrote: refused at the edge, nothing recorded.
    recording = Recording()
    publish_url = reverse("admin:decisions_rulesetversion_publish", args=[draft.pk])
    assert author.post(publish_url).status_code == 403
    recording.none()
    draft.refresh_from_db()
    assert draft.status == VersionStatus.IN_REVIEW

    recording = Recording()
    assert publisher.post(publish_url).status_code == 302
    event = recording.one("config.ruleset.published", actor="pat")
    assert before_after(event, "published_version") == (1, draft.number)
    assert before_after(event, "status") == ("in_review", "published")

    recording = Recording()
    action(publisher, "decisions_ruleset", "roll_back", carrier.pk)
    event = recording.one("config.ruleset.rolled_back", actor="pat")
    assert before_after(event, "published_version") == (draft.number, 1)
    assert event.instance_id == carrier.pk

    recording = Recording()
    action(publisher, "decisions_ruleset", "retire_published", carrier.pk)
    event = recording.one("config.ruleset.retired", actor="pat")
    assert before_after(event, "published_version") == (1, None)

    # A publisher who is not an author cannot start a draft: no event, no version.
    versions = carrier.versions.count()
    recording = Recording()
    action(publisher, "decisions_ruleset", "new_draft", carrier.pk)
    recording.none()
    assert carrier.versions.count() == versions


def test_a_version_sent_back_to_draft_is_one_event():
    carrier = RuleSet.objects.get(slug=ORDER_CARRIER)
    draft = decision_services.create_draft(
        rule_set=carrier, actor=Actor.for_user(in_role("rule authors", "ana"))
    )
    decision_services.submit_for_review(version=draft, actor=Actor.for_user(draft.created_by))
    recording = Recording()
    action(
        logged_in(in_role("publishers", "pat")),
        "decisions_rulesetversion",
        "return_to_draft",
        draft.pk,
    )
    event = recording.one("config.ruleset.returned_to_draft", actor="pat")
    assert before_after(event, "status") == ("in_review", "draft")


def test_a_lifecycle_step_the_service_refuses_records_nothing():
    carrier = RuleSet.objects.get(slug=ORDER_CARRIER)
    writer = Actor.for_user(
        user_with_perms(
            "decisions.author_ruleset", "decisions.submit_ruleset", "decisions.publish_ruleset"
        )
    )
    draft = decision_services.create_draft(rule_set=carrier, actor=writer)
    decision_services.submit_for_review(version=draft, actor=writer)
    recording = Recording()
    with pytest.raises(LifecycleError, match="four-eyes"):
        decision_services.publish_version(version=draft, actor=writer, channel="command")
    recording.none()
    draft.refresh_from_db()
    assert draft.status == VersionStatus.IN_REVIEW


def test_a_rule_set_made_and_renamed_in_admin_is_one_event_each():
    admin = superuser_client()
    recording = Recording()
    response = admin.post(
        reverse("admin:decisions_ruleset_add"),
        {"slug": "returns", "name": "Returns", "description": ""},
    )
    assert response.status_code == 302
    rule_set = RuleSet.objects.get(slug="returns")
    event = recording.one("config.ruleset.created", actor="root")
    assert event.payload["before"] is None
    assert event.payload["after"]["name"] == "Returns"

    recording = Recording()
    response = admin.post(
        reverse("admin:decisions_ruleset_change", args=[rule_set.pk]),
        {"name": "Returns policy", "description": "who pays for a return"},
    )
    assert response.status_code == 302
    event = recording.one("config.ruleset.changed", actor="root")
    assert before_after(event, "name") == ("Returns", "Returns policy")
    assert event.payload["changed"] == ["description", "name"]


# --- API keys ------------------------------------------------------------------------------


def _shown_key(response) -> str:
    match = re.search(r"<code>(opk_[^<]+)</code>", response.content.decode())
    assert match
    return match.group(1)


def _no_secret_in(events: list[Event], *secrets: str) -> None:
    recorded = json.dumps([event.payload for event in events])
    for secret in secrets:
        assert secret
        assert secret not in recorded


def test_an_api_key_created_rotated_and_revoked_by_an_integrator_is_one_event_each():
    Integration.objects.create(name="shop")
    integrator = logged_in(in_role("integrators", "ines"))

    recording = Recording()
    response = integrator.post(
        reverse("admin:integrations_apikey_add"),
        {
            "integration": Integration.objects.get().pk,
            "name": "prod",
            "scopes": ["events:write"],
            "event_types": "*",
        },
        follow=True,
    )
    first_key = _shown_key(response)
    key = ApiKey.objects.get()
    event = recording.one("config.apikey.created", actor="ines")
    assert event.payload["after"]["prefix"] == key.prefix
    assert event.payload["after"]["scopes"] == ["events:write"]
    _no_secret_in(recording.events(), first_key, key.digest)

    recording = Recording()
    second_key = _shown_key(
        integrator.post(
            reverse("admin:integrations_apikey_changelist"),
            {"action": "rotate_selected", "_selected_action": [key.pk]},
            follow=True,
        )
    )
    new = ApiKey.objects.get(revoked_at=None)
    event = recording.one("config.apikey.rotated", actor="ines")
    assert before_after(event, "replaced_by") == (None, new.prefix)
    assert event.payload["before"]["revoked_at"] is None
    assert event.payload["after"]["revoked_at"] is not None
    _no_secret_in(recording.events(), second_key, new.digest)

    # A view-only colleague cannot revoke: nothing recorded, the key still works.
    viewer = logged_in(user_with_perms("integrations.view_apikey", username="vic"))
    recording = Recording()
    action(viewer, "integrations_apikey", "revoke_selected", new.pk)
    recording.none()
    new.refresh_from_db()
    assert new.revoked_at is None

    recording = Recording()
    action(integrator, "integrations_apikey", "revoke_selected", new.pk)
    event = recording.one("config.apikey.revoked", actor="ines")
    assert event.instance_id == new.pk
    assert event.payload["changed"] == ["revoked_at"]


def test_a_key_renamed_in_admin_is_one_event_and_an_unchanged_save_none():
    Integration.objects.create(name="shop")
    from integrations.services import create_api_key

    key, _ = create_api_key(
        integration=Integration.objects.get(), scopes=["events:write"], event_types=["*"]
    )
    admin = superuser_client()
    url = reverse("admin:integrations_apikey_change", args=[key.pk])
    recording = Recording()
    assert admin.post(url, {"name": "carrier-prod"}).status_code == 302
    event = recording.one("config.apikey.changed", actor="root")
    assert before_after(event, "name") == ("", "carrier-prod")

    recording = Recording()
    assert admin.post(url, {"name": "carrier-prod"}).status_code == 302
    recording.none()


def test_a_key_minted_by_the_command_is_recorded_on_the_command_channel(capsys):
    recording = Recording()
    call_command("create_api_key", "erp", "--name", "nightly")
    plaintext = capsys.readouterr().out.strip().splitlines()[-1]
    events = recording.events()
    assert [event.type for event in events] == [
        "config.integration.created",
        "config.apikey.created",
    ]
    assert {event.payload["channel"] for event in events} == {"command"}
    assert events[1].actor_kind == "system"
    assert events[1].actor_ref.startswith("create_api_key@")
    _no_secret_in(events, plaintext, ApiKey.objects.get().digest)


# --- webhook sources and secrets -----------------------------------------------------------


def test_webhook_secrets_added_and_deactivated_are_recorded_without_their_value():
    integrator = logged_in(in_role("integrators", "ines"))
    admin = superuser_client()
    recording = Recording()
    response = admin.post(
        reverse("admin:integrations_webhooksource_add"),
        {
            "name": "carrier",
            "integration": "",
            "event_types": '["*"]',
            "correlation_field": "correlation_key",
            "is_active": "on",
            "secrets-TOTAL_FORMS": "0",
            "secrets-INITIAL_FORMS": "0",
            "secrets-MIN_NUM_FORMS": "0",
            "secrets-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    source = WebhookSource.objects.get(name="carrier")
    recording.one("config.webhooksource.created", actor="root")

    recording = Recording()
    action(integrator, "integrations_webhooksource", "add_secret", source.pk)
    first = WebhookSecret.objects.get()
    event = recording.one("config.webhooksecret.created", actor="ines")
    assert before_after(event, "active_secrets") == ([], [first.pk])

    recording = Recording()
    action(integrator, "integrations_webhooksource", "add_secret", source.pk)
    second = WebhookSecret.objects.exclude(pk=first.pk).get()
    event = recording.one("config.webhooksecret.rotated", actor="ines")
    assert before_after(event, "active_secrets") == ([first.pk], [first.pk, second.pk])

    # The old secret is switched off in the source's inline: one event on that secret.
    recording = Recording()
    response = admin.post(
        reverse("admin:integrations_webhooksource_change", args=[source.pk]),
        {
            "name": "carrier",
            "integration": "",
            "event_types": '["*"]',
            "correlation_field": "correlation_key",
            "is_active": "on",
            "secrets-TOTAL_FORMS": "2",
            "secrets-INITIAL_FORMS": "2",
            "secrets-MIN_NUM_FORMS": "0",
            "secrets-MAX_NUM_FORMS": "1000",
            "secrets-0-id": str(second.pk),
            "secrets-0-source": str(source.pk),
            "secrets-0-is_active": "on",
            "secrets-1-id": str(first.pk),
            "secrets-1-source": str(source.pk),
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    event = recording.one("config.webhooksecret.changed", actor="root")
    assert event.instance_id == first.pk
    assert before_after(event, "is_active") == (True, False)
    assert event.payload["label"] == f"carrier secret #{first.pk}"

    all_events = Event.objects.filter(type__startswith="config.webhook")
    _no_secret_in(list(all_events), first.secret, second.secret, first.secret[6:16])

    # Someone who may only view sources cannot add a secret.
    viewer = logged_in(user_with_perms("integrations.view_webhooksource", username="vic"))
    recording = Recording()
    action(viewer, "integrations_webhooksource", "add_secret", source.pk)
    recording.none()
    assert WebhookSecret.objects.count() == 2


# --- trigger bindings, event types, schedules ----------------------------------------------


def _binding_form(event_type: EventType, **binding: str) -> dict[str, str]:
    data = {
        "name": event_type.name,
        "description": "",
        "schema": json.dumps(event_type.schema),
        "is_active": "on",
        "binding-TOTAL_FORMS": "1",
        "binding-INITIAL_FORMS": "1" if binding.get("id") else "0",
        "binding-MIN_NUM_FORMS": "0",
        "binding-MAX_NUM_FORMS": "1",
        "binding-0-event_type": str(event_type.pk),
    }
    return data | {f"binding-0-{name}": value for name, value in binding.items()}


def test_a_trigger_binding_added_and_changed_in_its_event_type_is_one_event_each():
    editor = logged_in(
        user_with_perms(
            "integrations.view_eventtype",
            "integrations.change_eventtype",
            "integrations.add_triggerbinding",
            "integrations.change_triggerbinding",
            "integrations.delete_triggerbinding",
            username="tess",
        )
    )
    event_type = EventType.objects.create(name="order.returned", schema={"type": "object"})
    url = reverse("admin:integrations_eventtype_change", args=[event_type.pk])

    recording = Recording()
    response = editor.post(
        url, _binding_form(event_type, action="start", workflow="order", is_active="on")
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    binding = TriggerBinding.objects.get(event_type=event_type)
    event = recording.one("config.triggerbinding.created", actor="tess")
    assert event.payload["after"]["workflow"] == "order"

    recording = Recording()
    response = editor.post(
        url, _binding_form(event_type, id=str(binding.pk), action="start", workflow="order")
    )
    assert response.status_code == 302
    event = recording.one("config.triggerbinding.changed", actor="tess")
    assert before_after(event, "is_active") == (True, False)

    # A viewer's post is refused and records nothing.
    viewer = logged_in(user_with_perms("integrations.view_eventtype", username="vic"))
    recording = Recording()
    response = viewer.post(
        url, _binding_form(event_type, id=str(binding.pk), action="start", workflow="invoice")
    )
    assert response.status_code == 403
    recording.none()
    binding.refresh_from_db()
    assert binding.workflow == "order"

    recording = Recording()
    response = editor.post(
        url,
        _binding_form(
            event_type, id=str(binding.pk), action="start", workflow="order", DELETE="on"
        ),
    )
    assert response.status_code == 302
    event = recording.one("config.triggerbinding.deleted", actor="tess")
    assert (event.instance_id, event.payload["after"]) == (binding.pk, None)
    assert event.payload["before"]["workflow"] == "order"
    assert not TriggerBinding.objects.filter(event_type=event_type).exists()


def test_a_schedule_created_changed_and_deleted_is_one_event_each():
    scheduler = logged_in(
        user_with_perms(
            "integrations.view_schedule",
            "integrations.add_schedule",
            "integrations.change_schedule",
            "integrations.delete_schedule",
            username="sam",
        )
    )
    event_type = EventType.objects.get(name="order.received")
    form = {
        "name": "nightly",
        "event_type": str(event_type.pk),
        "cron": "0 2 * * *",
        "payload": "{}",
        "correlation_key": "",
        "is_active": "on",
    }
    recording = Recording()
    assert scheduler.post(reverse("admin:integrations_schedule_add"), form).status_code == 302
    schedule = Schedule.objects.get(name="nightly")
    event = recording.one("config.schedule.created", actor="sam")
    assert event.payload["after"]["cron"] == "0 2 * * *"

    recording = Recording()
    url = reverse("admin:integrations_schedule_change", args=[schedule.pk])
    assert scheduler.post(url, form | {"cron": "30 3 * * *"}).status_code == 302
    event = recording.one("config.schedule.changed", actor="sam")
    assert before_after(event, "cron") == ("0 2 * * *", "30 3 * * *")

    recording = Recording()
    delete_url = reverse("admin:integrations_schedule_delete", args=[schedule.pk])
    assert scheduler.post(delete_url, {"post": "yes"}).status_code == 302
    event = recording.one("config.schedule.deleted", actor="sam")
    assert event.payload["before"]["cron"] == "30 3 * * *"
    assert event.payload["after"] is None
    assert not Schedule.objects.exists()


# --- escalation policies, and the history page that reads the log --------------------------


def _policy_form(policy: EscalationPolicy, **changes) -> dict[str, str]:
    return {
        "workflow": policy.workflow,
        "step": policy.step,
        "sla": str(policy.sla),
        "business_hours": json.dumps(policy.business_hours),
        "reminder_before": str(policy.reminder_before or ""),
        "escalate_to": str(policy.escalate_to_id),
        "further_levels": json.dumps(policy.further_levels),
        "expire_after": str(policy.expire_after or ""),
        **changes,
    }


def test_a_supervisor_changing_an_sla_is_one_event_and_the_history_page_shows_it():
    policy = EscalationPolicy.objects.get(workflow="order", step="manual.review")
    in_role("supervisors", "sue")  # the escalate-to group must be able to decide the step
    supervisor = logged_in(User.objects.get(username="sue"))
    url = reverse("admin:approvals_escalationpolicy_change", args=[policy.pk])
    old_sla = str(policy.sla)

    recording = Recording()
    response = supervisor.post(url, _policy_form(policy, sla="3:00:00"))
    assert response.status_code == 302, response.content.decode()[-2000:]
    event = recording.one("config.escalationpolicy.changed", actor="sue")
    assert before_after(event, "sla") == (old_sla, "3:00:00")
    assert event.payload["changed"] == ["sla"]

    recording = Recording()
    response = supervisor.post(url, _policy_form(policy, sla="4:00:00"))
    assert response.status_code == 302
    recording.one("config.escalationpolicy.changed", actor="sue")

    # A reviewer may not change it: refused, nothing recorded, nothing changed.
    reviewer = logged_in(in_role("reviewers", "rey"))
    recording = Recording()
    assert reviewer.post(url, _policy_form(policy, sla="9:00:00")).status_code == 403
    recording.none()
    policy.refresh_from_db()
    assert policy.sla == timedelta(hours=4)

    # The history page lists the log's events, newest first, to whoever may view the policy.
    history = supervisor.get(reverse("admin:approvals_escalationpolicy_history", args=[policy.pk]))
    assert history.status_code == 200
    page = history.content.decode()
    newest, older = page.index("3:00:00 &rarr; 4:00:00"), page.index(f"{old_sla} &rarr; 3:00:00")
    assert newest < older
    assert "sue" in page
    assert "admin" in page
    assert 'id="stored-versions"' in page  # simple-history's pages stay, linked below
    history_url = reverse("admin:approvals_escalationpolicy_history", args=[policy.pk])
    assert reviewer.get(history_url).status_code == 403


def test_a_rule_set_history_page_lists_its_versions_events():
    carrier = RuleSet.objects.get(slug=ORDER_CARRIER)
    author = in_role("rule authors", "ana")
    decision_services.create_draft(rule_set=carrier, actor=Actor.for_user(author), channel="api")
    page = logged_in(author).get(reverse("admin:decisions_ruleset_history", args=[carrier.pk]))
    assert page.status_code == 200
    assert "draft_created" in page.content.decode()
    assert page.context["rows"][0]["channel"] == "api"


# --- users and groups ----------------------------------------------------------------------


def _user_form(user: User, **changes) -> dict:
    return {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": user.email,
        "is_active": "on",
        "date_joined_0": "2026-11-01",
        "date_joined_1": "09:00:00",
        "initial-date_joined_0": "2026-11-01",
        "initial-date_joined_1": "09:00:00",
        **changes,
    }


def test_a_membership_and_staff_flag_changed_in_one_save_is_one_event_with_both_sets():
    account_admin = logged_in(
        user_with_perms("auth.view_user", "auth.change_user", "auth.view_group", username="ada")
    )
    reviewers, _ = Group.objects.get_or_create(name="reviewers")
    supervisors, _ = Group.objects.get_or_create(name="supervisors")
    target = UserFactory(username="tom", is_staff=False)
    target.groups.add(reviewers)
    url = reverse("admin:auth_user_change", args=[target.pk])

    recording = Recording()
    response = account_admin.post(
        url, _user_form(target, is_staff="on", groups=[reviewers.pk, supervisors.pk])
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    event = recording.one("config.user.changed", actor="ada")
    assert before_after(event, "groups") == (["reviewers"], ["reviewers", "supervisors"])
    assert before_after(event, "is_staff") == (False, True)
    assert event.payload["changed"] == ["groups", "is_staff"]
    target.refresh_from_db()
    _no_secret_in([event], target.password)
    assert "password" not in json.dumps(event.payload)

    # Someone who may only view users posts the same change: refused, nothing recorded.
    viewer = logged_in(user_with_perms("auth.view_user", username="vic"))
    recording = Recording()
    response = viewer.post(url, _user_form(target, is_superuser="on", groups=[]))
    assert response.status_code == 403
    recording.none()
    target.refresh_from_db()
    assert not target.is_superuser
    assert set(target.groups.values_list("name", flat=True)) == {"reviewers", "supervisors"}

    history = account_admin.get(reverse("admin:auth_user_history", args=[target.pk]))
    before, after = json.dumps(["reviewers"]), json.dumps(["reviewers", "supervisors"])
    shown = f"{escape(before)} &rarr; {escape(after)}"
    assert shown in history.content.decode()


def test_a_group_given_a_permission_is_one_event_with_the_permission_sets():
    group_admin = logged_in(user_with_perms("auth.view_group", "auth.change_group", username="gus"))
    group = Group.objects.create(name="dispatch")
    view_order = Permission.objects.get(content_type__app_label="processes", codename="view_order")
    cancel = Permission.objects.get(content_type__app_label="processes", codename="cancel_order")
    group.permissions.add(view_order)

    recording = Recording()
    response = group_admin.post(
        reverse("admin:auth_group_change", args=[group.pk]),
        {"name": "dispatch", "permissions": [view_order.pk, cancel.pk]},
    )
    assert response.status_code == 302
    event = recording.one("config.group.changed", actor="gus")
    assert before_after(event, "permissions") == (
        ["processes.view_order"],
        ["processes.cancel_order", "processes.view_order"],
    )


def test_direct_permissions_and_deactivation_are_one_event():
    account_admin = superuser_client("ada")
    target = UserFactory(username="tom")
    view_order = Permission.objects.get(content_type__app_label="processes", codename="view_order")
    recording = Recording()
    response = account_admin.post(
        reverse("admin:auth_user_change", args=[target.pk]),
        _user_form(target, is_active="", is_staff="on", user_permissions=[view_order.pk]),
    )
    assert response.status_code == 302
    event = recording.one("config.user.changed", actor="ada")
    assert before_after(event, "user_permissions") == ([], ["processes.view_order"])
    assert before_after(event, "is_active") == (True, False)


# --- the mixin on a model of its own: alert rules ------------------------------------------


def test_the_mixin_records_an_alert_rule_created_changed_and_deleted():
    from observability.models import AlertRule

    on_call = logged_in(
        user_with_perms(
            "observability.view_alertrule",
            "observability.add_alertrule",
            "observability.change_alertrule",
            "observability.delete_alertrule",
            username="olga",
        )
    )
    supervisors, _ = Group.objects.get_or_create(name="supervisors")
    form = {
        "name": "dead letters",
        "kind": "dead_letters",
        "workflow": "",
        "queue": "",
        "integration": "",
        "threshold": "1",
        "window": "",
        "enabled": "on",
        "notify_group": str(supervisors.pk),
    }
    recording = Recording()
    response = on_call.post(reverse("admin:observability_alertrule_add"), form)
    assert response.status_code == 302, response.content.decode()[-2000:]
    rule = AlertRule.objects.get()
    event = recording.one("config.alertrule.created", actor="olga")
    assert event.payload["after"]["notify_group"] == "supervisors"
    assert "created_at" not in event.payload["after"]

    recording = Recording()
    change_url = reverse("admin:observability_alertrule_change", args=[rule.pk])
    response = on_call.post(change_url, form | {"threshold": "5", "enabled": ""})
    assert response.status_code == 302
    event = recording.one("config.alertrule.changed", actor="olga")
    assert event.payload["changed"] == ["enabled", "threshold"]
    assert before_after(event, "threshold") == (1.0, 5.0)

    viewer = logged_in(user_with_perms("observability.view_alertrule", username="vic"))
    recording = Recording()
    assert viewer.post(change_url, form | {"threshold": "99"}).status_code == 403
    recording.none()

    recording = Recording()
    delete_url = reverse("admin:observability_alertrule_delete", args=[rule.pk])
    assert on_call.post(delete_url, {"post": "yes"}).status_code == 302
    event = recording.one("config.alertrule.deleted", actor="olga")
    assert event.payload["before"]["threshold"] == 5.0
    assert event.instance_id == rule.pk
    assert not AlertRule.objects.exists()


def test_a_config_event_carrying_a_secret_value_is_refused_and_nothing_is_written():
    from django.db import transaction

    from audit.services import record_config_change

    source = WebhookSource.objects.create(name="carrier")
    recording = Recording()
    with pytest.raises(ValueError, match="secret value"), transaction.atomic():
        record_config_change(
            actor=Actor.for_user(UserFactory(username="slip")),
            channel="admin",
            kind="webhooksecret",
            action="rotated",
            target=source,
            label="carrier",
            before=None,
            after={"secrets": ["whsec_c2VjcmV0"]},
        )
    recording.none()


def test_a_user_added_in_admin_is_one_event_without_the_password():
    account_admin = logged_in(
        user_with_perms("auth.view_user", "auth.add_user", "auth.change_user", username="ada")
    )
    recording = Recording()
    response = account_admin.post(
        reverse("admin:auth_user_add"),
        {
            "username": "newcomer",
            "usable_password": "true",
            "password1": "Tr0ub4dor&3-horse",
            "password2": "Tr0ub4dor&3-horse",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    event = recording.one("config.user.created", actor="ada")
    assert event.payload["after"]["username"] == "newcomer"
    assert event.payload["after"]["is_staff"] is False
    recorded = json.dumps(event.payload)
    assert "Tr0ub4dor" not in recorded
    assert User.objects.get(username="newcomer").password not in recorded


def test_the_event_rolls_back_with_the_change_it_records():
    from django.db import transaction

    from integrations.services import create_api_key

    integration = Integration.objects.create(name="shop")

    def mint_then_fail() -> None:
        with transaction.atomic():
            create_api_key(integration=integration, scopes=["events:write"], event_types=["*"])
            raise RuntimeError("a later step failed")

    recording = Recording()
    with pytest.raises(RuntimeError, match="later step failed"):
        mint_then_fail()
    recording.none()
    assert not ApiKey.objects.exists()


def test_a_password_set_in_admin_is_one_event_that_never_holds_it():
    account_admin = logged_in(user_with_perms("auth.view_user", "auth.change_user", username="ada"))
    target = UserFactory(username="tom")
    url = reverse("admin:auth_user_password_change", args=[target.pk])
    recording = Recording()
    response = account_admin.post(
        url,
        {
            "password1": "N3w-horse-battery",
            "password2": "N3w-horse-battery",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    event = recording.one("config.user.password_changed", actor="ada")
    assert event.payload["after"] == {"usable_password": True}
    target.refresh_from_db()
    assert target.check_password("N3w-horse-battery")
    _no_secret_in([event], "N3w-horse-battery", target.password)

    # Mismatched passwords change nothing and record nothing.
    recording = Recording()
    response = account_admin.post(url, {"password1": "a-Long-pass-1", "password2": "other-pass-2"})
    assert response.status_code == 200
    recording.none()
