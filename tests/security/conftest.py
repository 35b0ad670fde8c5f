"""The permission matrix's world: real, non-superuser roles and one real target per URL.

Built once per module inside an outer transaction that is rolled back at the end of the
module; every test runs in a savepoint inside it (pytest-django's `db`), so a cell that
changes something (an allowed action, a refused one that should not have) never leaks into
the next cell nor into other modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client
from django.utils import timezone

from opscore.actors import SYSTEM, Actor

PROJECT_APPS = ("workflows", "processes", "approvals", "audit", "decisions", "integrations")

SESSION_ROLES = (
    "anonymous",
    "viewonly",
    "reviewer",
    "manager",
    "director",
    "supervisor",
    "author",
    "publisher",
)
# Keys of one integration ("matrix-shop"): none, then each scope alone.
KEY_ROLES = (
    "key:none",
    "key:events:write",
    "key:inbound:read",
    "key:instances:read",
    "key:executions:read",
)
ALL_ROLES = SESSION_ROLES + KEY_ROLES

DEMO_GROUP_OF = {
    "reviewer": "reviewers",
    "manager": "managers",
    "director": "finance",
    "supervisor": "supervisors",
}
# Rule authors and publishers are not demo groups (yet): their permissions, by codename.
# Codenames another change may add are listed too; a codename that does not exist is skipped,
# so the matrix runs before and after that change.
RULE_AUTHOR_PERMISSIONS = [
    "decisions.view_ruleset",
    "decisions.add_ruleset",
    "decisions.change_ruleset",
    "decisions.view_rulesetversion",
    "decisions.add_rulesetversion",
    "decisions.change_rulesetversion",
    "decisions.view_decisionrecord",
    "decisions.view_backtest",
    "decisions.view_override",
    "decisions.author_ruleset",
    "decisions.submit_ruleset",
    "decisions.submit_rulesetversion",
    "decisions.run_backtest",
    "decisions.backtest_ruleset",
    "decisions.add_backtest",
]
RULE_PUBLISHER_PERMISSIONS = [
    "decisions.view_ruleset",
    "decisions.view_rulesetversion",
    "decisions.view_decisionrecord",
    "decisions.view_backtest",
    "decisions.view_override",
    "decisions.publish_ruleset",
    "decisions.run_backtest",
    "decisions.backtest_ruleset",
    "decisions.add_backtest",
]

PASSWORD = "correct horse battery staple"


def permissions(dotted: list[str]) -> list[Permission]:
    """The permissions that exist among `dotted` (app_label.codename); unknown ones skipped."""
    found = []
    for name in dotted:
        app_label, codename = name.split(".")
        found.extend(
            Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        )
    return found


def make_user(username: str, *, perms: list[Permission] = (), groups: list[Group] = ()) -> User:
    user = User.objects.create_user(
        username=username, email=f"{username}@matrix.invalid", password=PASSWORD, is_staff=True
    )
    user.user_permissions.add(*perms)
    user.groups.add(*groups)
    return User.objects.get(pk=user.pk)


def demo_group(name: str) -> Group:
    from demo.seed import GROUP_PERMISSIONS

    group, _ = Group.objects.get_or_create(name=name)
    group.permissions.add(*permissions(GROUP_PERMISSIONS[name]))
    return group


@dataclass
class World:
    users: dict[str, User] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # role -> plaintext
    targets: dict[str, Any] = field(default_factory=dict)
    requester: User | None = None

    sessions: dict[str, str] = field(default_factory=dict)  # role -> session key

    def client(self, role: str) -> Client:
        """A client logged in as `role`, on a session opened once for the whole module."""
        client = Client()
        if role in self.users:
            if role not in self.sessions:
                client.force_login(self.users[role])
                self.sessions[role] = client.session.session_key
            else:
                client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[role]
        return client

    def api_headers(self, role: str) -> dict[str, str]:
        if role in self.keys:
            return {"HTTP_AUTHORIZATION": f"Api-Key {self.keys[role]}"}
        return {}


def _post_event(client: Client, key: str, body: dict, idempotency_key: str):
    import json

    return client.post(
        "/api/v1/events",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
        HTTP_IDEMPOTENCY_KEY=idempotency_key,
    )


def build_world() -> World:
    from approvals.models import EscalationPolicy, ReviewTask
    from approvals.services import claim_task
    from decisions import services as decisions
    from decisions.models import Backtest, DecisionRecord, RuleSet
    from integrations.models import (
        EventType,
        InboundEvent,
        Integration,
        Rejection,
        Schedule,
        WebhookSecret,
    )
    from integrations.services import create_api_key
    from processes.invoices.rules import INVOICE_APPROVAL
    from processes.orders.models import Order
    from processes.orders.rules import ORDER_CARRIER, ORDER_POLICY
    from processes.seed import seed_every_workflow
    from tests.factories import (
        order_context,
        order_received_event,
        refund_requested_event,
        webhook_source,
    )
    from workflows import engine, services
    from workflows.models import Execution, Timer

    world = World()
    seed_every_workflow()

    view_all = list(
        Permission.objects.filter(
            content_type__app_label__in=PROJECT_APPS, codename__startswith="view_"
        )
    )
    world.users["viewonly"] = make_user("m-viewonly", perms=view_all)
    for role, group in DEMO_GROUP_OF.items():
        world.users[role] = make_user(f"m-{role}", groups=[demo_group(group)])
    world.users["author"] = make_user("m-author", perms=permissions(RULE_AUTHOR_PERMISSIONS))
    world.users["publisher"] = make_user(
        "m-publisher", perms=permissions(RULE_PUBLISHER_PERMISSIONS)
    )
    reviewer2 = make_user("m-reviewer2", groups=[demo_group("reviewers")])
    world.requester = make_user("m-requester")
    requester = Actor.for_user(world.requester)

    # --- keys: one integration, a key per scope; its service user could work review tasks,
    # so only the key's scopes stand between a key and the tasks API.
    shop = Integration.objects.create(name="matrix-shop")
    for role in KEY_ROLES:
        scope = role.removeprefix("key:")
        _, plaintext = create_api_key(
            integration=shop, scopes=[] if scope == "none" else [scope], event_types=["*"]
        )
        world.keys[role] = plaintext
    shop.refresh_from_db()
    shop.user.groups.add(demo_group("reviewers"))
    other = Integration.objects.create(name="matrix-other")
    _, world.targets["other_key"] = create_api_key(
        integration=other, scopes=["events:write", "instances:read"], event_types=["*"]
    )
    writer = world.keys["key:events:write"]

    # --- workflows: an order in review and an invoice started by a person (foreign to the
    # keys' integration), and one order the integration sent itself.
    order = services.start_workflow(
        workflow="order", payload=order_context(), actor=requester, correlation_key="M-ORDER-1"
    )
    order = engine.transition(instance=order, name="flag_for_review", actor=SYSTEM)
    world.targets["order"] = order
    world.targets["invoice"] = services.start_workflow(
        workflow="invoice",
        payload={
            "invoice_id": "M-INV-1",
            "supplier": "Harbour Logistics",
            "amount": 18500,
            "currency": "EUR",
        },
        actor=requester,
        correlation_key="M-INV-1",
    )
    # Waiting for a manager, with a history behind it (received, then awaiting_manager).
    world.targets["invoice"] = engine.transition(
        instance=world.targets["invoice"], name="request_manager_approval", actor=SYSTEM
    )
    world.targets["refund"] = services.start_workflow(
        workflow="refund",
        payload=refund_requested_event(amount=900)["payload"],
        actor=requester,
        correlation_key="M-RF-1",
    )
    client = Client()
    own_body = order_received_event(source="matrix-shop", correlation_key="M-OWN-1")
    world.targets["own_body"] = own_body
    response = _post_event(client, writer, own_body, "matrix-own-1")
    assert response.status_code in (200, 201), response.content
    world.targets["own_inbound"] = InboundEvent.objects.get(pk=response.json()["id"])
    world.targets["own_order"] = Order.objects.get(correlation_key="M-OWN-1")
    world.targets["own_execution"] = (
        Execution.objects.filter(
            instance_id=world.targets["own_order"].pk,
            instance_type=ContentType.objects.get_for_model(Order),
        ).first()
        or Execution.objects.first()
    )
    assert world.targets["own_execution"] is not None
    world.targets["execution"] = world.targets["own_execution"]
    world.targets["foreign_inbound"] = InboundEvent.objects.create(
        channel="admin",
        source="someone-else",
        idempotency_key="matrix-foreign-1",
        request_hash="0" * 64,
        type="order.received",
        occurred_at=timezone.now(),
        correlation_key="M-FOREIGN-1",
        payload={},
        status="stored",
        actor_ref="user:someone",
        response_status=201,
        response_body={},
    )
    world.targets["inboundevent"] = world.targets["own_inbound"]
    Client().post("/api/v1/events", data="{}", content_type="application/json")  # a rejection
    world.targets["rejection"] = Rejection.objects.order_by("-pk").first()
    assert world.targets["rejection"] is not None
    world.targets["timer"] = Timer.objects.create(
        instance_type=ContentType.objects.get_for_model(Order),
        instance_id=order.pk,
        instance_version=order.version,
        step="pod.capture",
        transition="delivery_overdue",
        due_at=timezone.now(),
    )

    # --- review tasks: the order's open task, one claimed by the reviewer (to release),
    # one escalated to a second level, one held by someone who cannot decide it.
    task = ReviewTask.objects.get(instance_id=order.pk, instance_type__model="order")
    world.targets["reviewtask"] = task
    world.targets["task"] = task

    def order_task(key: str) -> ReviewTask:
        instance = services.start_workflow(
            workflow="order", payload=order_context(), actor=requester, correlation_key=key
        )
        instance = engine.transition(instance=instance, name="flag_for_review", actor=SYSTEM)
        return ReviewTask.objects.get(instance_id=instance.pk, instance_type__model="order")

    held = order_task("M-ORDER-HELD")
    world.targets["task_held"] = claim_task(
        task=held, actor=Actor.for_user(world.users["reviewer"])
    )
    leads = Group.objects.create(name="matrix-order-leads")
    leads.permissions.add(*permissions(["processes.review_order", "approvals.work_reviewtask"]))
    escalated = order_task("M-ORDER-L2")
    snapshot = {**escalated.policy_snapshot, "levels": ["supervisors", leads.name]}
    ReviewTask.objects.filter(pk=escalated.pk).update(
        escalation_level=2,
        escalated_to=leads,
        escalated_at=timezone.now(),
        policy_snapshot=snapshot,
    )
    # As the sweeper records it: every group the task was escalated to keeps sight of it.
    escalated.escalated_groups.add(Group.objects.get(name="supervisors"), leads)
    world.targets["task_escalated"] = ReviewTask.objects.get(pk=escalated.pk)
    night = Group.objects.create(name="matrix-night-desk")  # no permission for the step
    outsider = make_user("m-outsider", groups=[night])
    outsider.user_permissions.add(*permissions(["approvals.work_reviewtask"]))
    blocked = order_task("M-ORDER-BLOCKED")
    ReviewTask.objects.filter(pk=blocked.pk).update(
        escalation_level=1,
        escalated_to=night,
        escalated_at=timezone.now(),
        status="claimed",
        assignee=outsider,
    )
    world.targets["task_blocked"] = ReviewTask.objects.get(pk=blocked.pk)
    world.targets["reviewer2"] = reviewer2
    policy = EscalationPolicy.objects.get(workflow="order", step="manual.review")
    policy.sla = policy.sla * 2
    policy.save()
    world.targets["escalationpolicy"] = policy

    # --- audit
    from audit.models import Event

    world.targets["event"] = Event.objects.order_by("seq").first()

    # --- decisions: a published version with a history (draft, review, published), a draft,
    # a version in review, a decision record, a backtest and an override.
    author = Actor.for_user(world.users["author"])
    publisher = Actor.for_user(world.users["publisher"])
    carrier = RuleSet.objects.get(slug=ORDER_CARRIER)
    version = decisions.create_draft(rule_set=carrier, actor=author, note="matrix")
    version = decisions.submit_for_review(version=version, actor=author)
    version = decisions.publish_version(version=version, actor=publisher)
    # A later name and SLA, so reverting to the first history record would change something.
    carrier.name = f"{carrier.name} (renamed)"
    carrier.save()
    world.targets["ruleset"] = carrier
    world.targets["rulesetversion"] = version
    policy_rules = RuleSet.objects.get(slug=ORDER_POLICY)
    world.targets["draft_version"] = decisions.create_draft(rule_set=policy_rules, actor=author)
    invoice_rules = RuleSet.objects.get(slug=INVOICE_APPROVAL)
    review = decisions.create_draft(rule_set=invoice_rules, actor=author)
    world.targets["review_version"] = decisions.submit_for_review(version=review, actor=author)
    world.targets["decisionrecord"] = decisions.decide(
        rule_set=ORDER_CARRIER,
        inputs={"weight_kg": 2.5, "postcode_area": "AB"},
        instance=order,
        step="dispatch.execute",
    )
    assert DecisionRecord.objects.exists()
    world.targets["backtest"] = Backtest.objects.order_by("-pk").first()
    assert world.targets["backtest"] is not None
    world.targets["override"] = _any_override(world, order, carrier)

    # --- integrations
    world.targets["integration"] = shop
    world.targets["apikey"] = shop.api_keys.order_by("pk").first()
    world.targets["eventtype"] = EventType.objects.get(name="order.received")
    world.targets["webhooksource"] = webhook_source(name="matrix-carrier")
    assert WebhookSecret.objects.filter(source=world.targets["webhooksource"]).exists()
    world.targets["schedule"] = Schedule.objects.create(
        name="matrix-nightly",
        event_type=world.targets["eventtype"],
        cron="0 3 * * *",
        payload=order_context(),
    )
    for role in world.users:
        world.client(role)  # open each role's session inside the module's transaction
    return world


def _any_override(world: World, order, carrier):
    from decisions.services import record_override

    return record_override(
        instance=order,
        rule_set=carrier.slug,
        chosen={"carrier": "matrix-carrier-b"},
        reason="matrix",
        actor=Actor.for_user(world.users["reviewer"]),
    )


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[World]:
    # Marked as TestCase's own block: opscore chains and writes events when its outermost
    # block ends (audit.chaining), and this one never commits.
    outer = transaction.atomic()
    outer._from_testcase = True
    with django_db_blocker.unblock(), outer:
        built = build_world()
        yield built
        transaction.set_rollback(True)
