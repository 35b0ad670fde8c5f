"""Demo users, groups, orders and invoices; loading twice changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission, User
from django.db import transaction

from integrations.models import Integration, WebhookSecret, WebhookSource
from integrations.services import new_webhook_secret
from observability.alerts.seed import seed_default_alert_rules
from opscore.actors import Actor
from privacy import sealing
from processes.invoices.models import Invoice
from processes.orders.events import ORDER_RECEIVED_SCHEMA
from processes.orders.models import Order
from processes.seed import seed_every_workflow
from workflows import services

GROUP_PERMISSIONS = {
    "reviewers": [
        "processes.review_order",
        "processes.view_order",
        "approvals.work_reviewtask",
    ],
    "supervisors": [
        "processes.review_order",
        "processes.cancel_order",
        "processes.view_order",
        "processes.change_order",
        "workflows.view_execution",
        "workflows.change_execution",
        "audit.view_event",
        "approvals.work_reviewtask",
        "approvals.view_escalationpolicy",
        "approvals.change_escalationpolicy",
        # The reference invoice policies escalate to supervisors: an escalate-to group must be
        # able to decide the step it receives (four-eyes still keeps one person to one level).
        "processes.approve_invoice",
        "processes.finance_approve_invoice",
        "processes.view_invoice",
        # Refunds past their SLA escalate to supervisors, who open the refund to decide.
        "processes.approve_refund",
        "processes.view_refund",
        # Reports and recurring patterns (/admin/reports/): how their teams' work is going.
        "observability.view_reports",
        # The demo's mail sink: every mail it received, escalations to other groups included.
        "demo.read_all_mail",
    ],
    "refund-approvers": [
        "processes.approve_refund",
        "processes.view_refund",
        "approvals.work_reviewtask",
    ],
    "managers": [
        "processes.approve_invoice",
        "processes.view_invoice",
        "approvals.work_reviewtask",
    ],
    "finance": [
        "processes.finance_approve_invoice",
        "processes.view_invoice",
        "approvals.work_reviewtask",
    ],
    # A rule change goes draft -> review -> published by two people: an author writes and
    # submits it, a publisher (who did not write it) sends it back or publishes it.
    "rule authors": [
        "decisions.view_ruleset",
        "decisions.view_rulesetversion",
        "decisions.change_rulesetversion",
        "decisions.view_backtest",
        "decisions.view_decisionrecord",
        "decisions.author_ruleset",
        "decisions.submit_ruleset",
        "decisions.backtest_ruleset",
    ],
    "publishers": [
        "decisions.view_ruleset",
        "decisions.view_rulesetversion",
        "decisions.view_backtest",
        "decisions.view_decisionrecord",
        "decisions.backtest_ruleset",
        "decisions.publish_ruleset",
    ],
    "integrators": [
        "integrations.view_integration",
        "integrations.view_apikey",
        "integrations.add_apikey",
        "integrations.rotate_apikey",
        "integrations.revoke_apikey",
        "integrations.view_webhooksource",
        "integrations.add_webhooksecret",
    ],
    # Who is paged: alert rules are theirs to tune, alerts theirs to acknowledge.
    "on-call": [
        "observability.view_alertrule",
        "observability.add_alertrule",
        "observability.change_alertrule",
        "observability.view_alert",
        "observability.acknowledge_alert",
        "observability.view_alertdelivery",
        "observability.view_checkrun",
        "workflows.view_execution",
        "workflows.change_execution",
        "audit.view_event",
    ],
    # Everyone in the demo reads their own mail (what the local sink received for them).
    "demo mailboxes": ["demo.view_receivedmail"],
}
USERS = [
    # username, groups, superuser
    ("admin", [], True),
    ("reviewer", ["reviewers"], False),
    ("reviewer2", ["reviewers"], False),
    ("supervisor", ["supervisors"], False),
    ("manager", ["managers"], False),
    ("director", ["finance"], False),
    ("approver", ["refund-approvers"], False),
    ("requester", [], False),
    ("author", ["rule authors"], False),
    ("publisher", ["publishers"], False),
    ("oncall", ["on-call"], False),
]
MAILBOX_GROUP = "demo mailboxes"
# Customers are made up; their name, email and postcode are sealed as order.received marks
# them (`manage.py erase_subject ada@example.invalid --reason ...` erases the first).
ORDERS = [
    {
        "customer": "Ada Lovelace",
        "email": "ada@example.invalid",
        "postcode": "AB1 2CD",
        "weight_kg": 2.5,
        "value": 120,
    },
    {
        "customer": "Alan Turing",
        "email": "alan@example.invalid",
        "postcode": "EH3 9QQ",
        "weight_kg": 1.0,
        "value": 45,
    },
    {
        "customer": "Grace Hopper",
        "email": "grace@example.invalid",
        "postcode": "SW1A 1AA",
        "weight_kg": 4.0,
        "value": 2400,
    },
    {
        "customer": "Edsger Dijkstra",
        "email": "edsger@example.invalid",
        "postcode": "M1 1AE",
        "weight_kg": 35.0,
        "value": 310,
    },
    {
        "customer": "Barbara Liskov",
        "email": "barbara@example.invalid",
        "postcode": "B33 8TH",
        "weight_kg": 12.0,
        "value": 1800,
    },
    {
        "customer": "Tony Hoare",
        "email": "tony@example.invalid",
        "postcode": "CR2 6XH",
        "weight_kg": 0.5,
        "value": 19,
    },
]
# Small (paid automatically), medium (a manager), large (a manager and a finance director).
INVOICES = [
    {"supplier": "Acme Packaging", "amount": 240, "currency": "EUR"},
    {"supplier": "Northern Fuel", "amount": 4200, "currency": "EUR"},
    {"supplier": "Harbour Logistics", "amount": 18500, "currency": "EUR"},
    {"supplier": "Office Supplies Ltd", "amount": 7300, "currency": "EUR"},
]


@dataclass(frozen=True)
class SeedReport:
    users_created: int
    orders_created: int
    invoices_created: int


def _permission(dotted: str) -> Permission:
    app_label, codename = dotted.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def _seed_demo_integrations() -> None:
    """A demo shop (mint its key with `create_api_key demo-shop`) and a signed carrier hook."""
    Integration.objects.get_or_create(
        name="demo-shop", defaults={"description": "Demo shop sending order.received"}
    )
    carrier, _ = WebhookSource.objects.get_or_create(
        name="demo-carrier",
        defaults={"event_types": ["shipment.delivered"], "correlation_field": "order_id"},
    )
    if not carrier.secrets.filter(is_active=True).exists():
        WebhookSecret.objects.create(source=carrier, secret=new_webhook_secret())


@transaction.atomic
def seed_demo(*, password: str) -> SeedReport:
    seed_every_workflow()
    for name, permissions in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*(_permission(p) for p in permissions))
    users_created = 0
    for username, groups, superuser in USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"email": f"{username}@opscore.invalid", "is_staff": True},
        )
        users_created += created
        user.is_superuser = superuser
        user.is_staff = True
        user.set_password(password)
        user.save()
        user.groups.add(*Group.objects.filter(name__in=[*groups, MAILBOX_GROUP]))
    requester = Actor.for_user(User.objects.get(username="requester"))
    orders_created = 0
    for number, context in enumerate(ORDERS, start=1):
        key = f"DEMO-{number:04d}"
        if Order.objects.filter(correlation_key=key).exists():
            continue
        services.start_workflow(
            workflow="order",
            correlation_key=key,
            # Sealed as ingestion would seal an order.received event.
            payload=sealing.seal_payload(
                schema=ORDER_RECEIVED_SCHEMA, payload={"order_id": key, **context}, fallback_ref=key
            ),
            actor=requester,
        )
        orders_created += 1
    invoices_created = 0
    for number, context in enumerate(INVOICES, start=1):
        key = f"DEMO-INV-{number:04d}"
        if Invoice.objects.filter(correlation_key=key).exists():
            continue
        services.start_workflow(
            workflow="invoice",
            correlation_key=key,
            payload={"invoice_id": key, **context},
            actor=requester,
        )
        invoices_created += 1
    _seed_demo_integrations()
    seed_default_alert_rules()
    return SeedReport(
        users_created=users_created,
        orders_created=orders_created,
        invoices_created=invoices_created,
    )
