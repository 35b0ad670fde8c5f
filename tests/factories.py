"""Test data builders, in one place."""

from __future__ import annotations

import itertools
from typing import Any

import factory
from django.contrib.auth.models import Group, Permission, User

from opscore.actors import SYSTEM, Actor
from processes.orders.models import Order
from workflows import services

_order_numbers = itertools.count(1)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.test")
    is_staff = True
    password = factory.django.Password("correct horse battery staple")


def user_with_perms(*codenames: str, username: str | None = None, group: str | None = None) -> User:
    user = UserFactory(username=username) if username else UserFactory()
    for codename in codenames:
        app_label, name = codename.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=name)
        )
    if group:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return User.objects.get(pk=user.pk)  # drop the permission cache


def order_context(**overrides: Any) -> dict[str, Any]:
    number = next(_order_numbers)
    return {
        "order_id": f"SO-{number:06d}",
        "customer": f"customer-{number}",
        "postcode": "AB1 2CD",
        "weight_kg": 2.5,
        "value": 120,
        **overrides,
    }


def start_order(*, actor: Actor = SYSTEM, correlation_key: str | None = None, **context) -> Order:
    return services.start_workflow(
        workflow="order",
        payload=order_context(**context),
        actor=actor,
        correlation_key=correlation_key,
    )


# --- trigger layer -------------------------------------------------------------------------


def api_key(
    *,
    integration: str = "shop",
    scopes: list[str] | None = None,
    event_types: list[str] | None = None,
) -> str:
    """Mint a key for `integration` (created if missing) and return the plaintext."""
    from integrations.models import Integration, Scope
    from integrations.services import create_api_key

    found, _ = Integration.objects.get_or_create(name=integration)
    _, plaintext = create_api_key(
        integration=found,
        scopes=scopes if scopes is not None else [scope.value for scope in Scope],
        event_types=event_types if event_types is not None else ["*"],
    )
    return plaintext


def order_received_event(
    *, source: str = "shop", correlation_key: str | None = None, **payload: Any
) -> dict[str, Any]:
    context = order_context(**payload)
    return {
        "type": "order.received",
        "source": source,
        "occurred_at": "2026-11-25T12:00:00+00:00",
        "correlation_key": correlation_key or context["order_id"],
        "payload": context,
    }


def refund_requested_event(
    *, amount: float, days_ago: int = 3, email: str = "ada@example.test", **payload: Any
) -> dict[str, Any]:
    """A `refund.requested` envelope: a customer's refund asked `days_ago` days after purchase."""
    from datetime import timedelta

    from django.utils import timezone

    number = next(_order_numbers)
    return {
        "type": "refund.requested",
        "source": "shop",
        "occurred_at": timezone.now().isoformat(),
        "correlation_key": f"RF-{number:06d}",
        "payload": {
            "refund_id": f"RF-{number:06d}",
            "order_id": f"SO-{number:06d}",
            "customer": "Ada Lovelace",
            "email": email,
            "amount": amount,
            "currency": "EUR",
            "purchased_on": (timezone.now().date() - timedelta(days=days_ago)).isoformat(),
            **payload,
        },
    }


def webhook_source(*, name: str = "carrier", secrets: int = 1, event_types=("*",)):
    from integrations.models import WebhookSecret, WebhookSource
    from integrations.services import new_webhook_secret

    source, _ = WebhookSource.objects.get_or_create(
        name=name, defaults={"event_types": list(event_types)}
    )
    for _ in range(secrets):
        WebhookSecret.objects.create(source=source, secret=new_webhook_secret())
    return source


def reviewer(
    username: str | None = None, *, group: str = "reviewers", perms: tuple[str, ...] = ()
) -> User:
    """A member of a review queue who works tasks, with the permission order review declares."""
    return user_with_perms(
        "approvals.work_reviewtask",
        "processes.review_order",
        *perms,
        username=username,
        group=group,
    )


def order_in_review(*, actor: Actor = SYSTEM, **context) -> Order:
    """An order waiting in manual.review, with its open task (policy.check skipped)."""
    from workflows import engine

    order = start_order(actor=actor, **context)
    return engine.transition(instance=order, name="flag_for_review", actor=SYSTEM)


def start_invoice(*, actor: Actor = SYSTEM, amount: float, **context) -> Any:
    number = next(_order_numbers)
    return services.start_workflow(
        workflow="invoice",
        payload={
            "invoice_id": f"INV-{number:06d}",
            "supplier": f"supplier-{number}",
            "amount": amount,
            "currency": "EUR",
            **context,
        },
        actor=actor,
    )


def cluster_heartbeat(*, cluster_id: str) -> None:
    """Save a django-q2 cluster heartbeat the way a running sentinel does each guard cycle.

    django-q2 keeps a Stat 3 s in the cache; a web process remembers the newest heartbeat it
    saw. Remember this one now, as a probe polling /readyz would: a cold first /readyz reads
    the migration graph, which can outlast those 3 s on a loaded machine.
    """
    import os
    from types import SimpleNamespace

    from django.utils import timezone
    from django_q.conf import Conf
    from django_q.status import Stat

    from opscore import health

    sentinel = SimpleNamespace(
        parent_pid=None,
        pid=os.getpid(),
        cluster_id=cluster_id,
        broker=None,
        tob=timezone.now(),
        reincarnations=0,
        status=lambda: Conf.IDLE,
        monitor=None,
        pusher=None,
        pool=[],
        result_queue=SimpleNamespace(qsize=lambda: 0),
        task_queue=SimpleNamespace(qsize=lambda: 0),
    )
    Stat(sentinel).save()
    health.check_cluster()


def reviewed_draft(rule_set: Any, author: Any, carrier: str = "parcelco") -> Any:
    """A draft of `rule_set` by `author` whose catch-all row picks `carrier`, in review."""
    from decisions import services as decisions
    from decisions.tables import Row, from_jdm

    draft = decisions.create_draft(rule_set=rule_set, actor=author)
    table = from_jdm(draft.content)
    rows = (*table.rows[:-1], Row("south", "Everything else", {}, {"carrier": f'"{carrier}"'}))
    decisions.save_draft_table(
        version=draft, table=type(table)(table.hit_policy, table.inputs, table.outputs, rows),
        actor=author,
    )  # fmt: skip
    return decisions.submit_for_review(version=draft, actor=author)
