"""The execution layer with real django-q2 clusters in subprocesses."""

import time

import pytest
from django.db import connection

from approvals.services import approve_review
from opscore.actors import Actor
from processes.orders.models import Order, OrderState
from tests.conftest import wait_until
from tests.factories import start_order, user_with_perms
from workflows import services
from workflows.models import Execution
from workflows.models.execution import ExecutionStatus

pytestmark = [pytest.mark.worker]


def _states(*orders: Order) -> list[str]:
    return list(Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("state", flat=True))


def test_full_order_path_through_a_real_cluster(live_db, carrier, qcluster):
    reviewer = user_with_perms("processes.review_order", group="reviewers")
    big = start_order(value=4000)
    small = start_order(value=40)
    cluster = qcluster()

    assert wait_until(lambda: _states(big) == ["in_review"], timeout=60), cluster.log()
    assert wait_until(lambda: _states(small) == ["awaiting_pod"], timeout=60), cluster.log()

    approve_review(instance=big, actor=Actor.for_user(reviewer))
    assert wait_until(lambda: _states(big) == ["awaiting_pod"], timeout=60), cluster.log()

    for order in (big, small):
        services.signal_workflow(
            workflow="order",
            correlation_key=order.correlation_key,
            transition="confirm_delivery",
            actor=Actor.for_integration("carrier"),
        )
    assert sorted(_states(big, small)) == ["completed", "completed"]
    assert carrier.ledger.stats()["shipments"] == 2


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the kill test runs where production runs; SQLite keeps the full path and the "
    "poison step through a real cluster",
)
def test_sigkill_mid_dispatch_loses_no_order_and_books_each_once(live_db, carrier, qcluster):
    carrier.ledger.delay_seconds = 0.1
    orders = [start_order(value=50) for _ in range(120)]
    settings = {"OPSCORE_Q_TIMEOUT": "8", "OPSCORE_Q_RETRY": "10", "OPSCORE_LEASE_SECONDS": "5"}
    first = qcluster(**settings)

    assert wait_until(lambda: carrier.ledger.stats()["shipments"] >= 30, timeout=120), first.log()
    first.kill()
    killed_at = time.monotonic()
    booked_before_restart = carrier.ledger.stats()["shipments"]
    assert booked_before_restart < len(orders), "the kill came too late to test anything"
    stranded = Execution.objects.filter(
        step="dispatch.execute", status=ExecutionStatus.RUNNING
    ).count()

    second = qcluster(**settings)
    assert wait_until(
        lambda: not Order.objects.exclude(state=OrderState.AWAITING_POD).exists(),
        timeout=180,
        interval=0.5,
    ), second.log()
    recovered_in = time.monotonic() - killed_at

    stats = carrier.ledger.stats()
    keys = set(
        Execution.objects.filter(step="dispatch.execute").values_list("idempotency_key", flat=True)
    )
    assert stats["shipments"] == len(orders)
    assert set(carrier.ledger.shipments) == keys
    assert len(keys) == len(orders)
    assert {o.context["shipment"]["shipment_id"] for o in Order.objects.all()} == {
        booking["shipment_id"] for booking in carrier.ledger.shipments.values()
    }
    assert not Execution.objects.exclude(status=ExecutionStatus.SUCCEEDED).exists()
    print(
        f"\nkill test: {len(orders)} orders, {booked_before_restart} booked before SIGKILL, "
        f"{stranded} dispatches left running by the dead cluster, all dispatched "
        f"{recovered_in:.1f}s after the kill; carrier saw {stats['requests']} requests for "
        f"{stats['keys']} keys ({stats['repeated_keys']} keys repeated), "
        f"{stats['shipments']} shipments booked"
    )


def test_a_poison_step_goes_dead_without_blocking_the_others(live_db, carrier, qcluster):
    poison = start_order(postcode="")
    healthy = [start_order(value=60) for _ in range(10)]
    cluster = qcluster()

    assert wait_until(lambda: set(_states(*healthy)) == {"awaiting_pod"}, timeout=90), cluster.log()
    assert wait_until(
        lambda: Execution.objects.filter(
            instance_id=poison.pk, step="dispatch.execute", status=ExecutionStatus.DEAD
        ).exists(),
        timeout=30,
    ), cluster.log()
    dead = Execution.objects.get(instance_id=poison.pk, step="dispatch.execute")
    assert "postcode" in dead.last_error
    assert _states(poison) == ["dispatching"]


def test_the_steps_a_batch_queues_together_run_on_a_real_cluster(live_db, carrier, qcluster):
    import json

    from rest_framework.test import APIClient

    from tests.factories import api_key, order_received_event

    key = api_key()
    events = [
        {
            "idempotency_key": f"batch-{n}",
            "event": order_received_event(correlation_key=f"SO-BATCH-{n}", value=40, weight_kg=1),
        }
        for n in range(3)
    ]
    response = APIClient().post(
        "/api/v1/events:batch",
        json.dumps({"events": events}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )
    assert [r["status"] for r in response.json()["results"]] == [201] * 3, response.content
    orders = list(Order.objects.filter(correlation_key__startswith="SO-BATCH-"))
    cluster = qcluster()

    assert wait_until(lambda: _states(*orders) == ["awaiting_pod"] * 3, timeout=60), cluster.log()
    assert carrier.ledger.stats()["shipments"] == 3
