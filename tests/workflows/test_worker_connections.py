"""Worker processes keep their database connections, and survive the database dropping them."""

import pytest
from django.db import connection
from django_q.models import Task

from processes.orders.models import Order, OrderState
from tests.conftest import wait_until
from tests.factories import start_order
from workflows import engine

pytestmark = [
    pytest.mark.worker,
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="server connections, counted and dropped by PostgreSQL itself",
    ),
]


def _dispatched(orders: list[Order]) -> bool:
    waiting = Order.objects.filter(pk__in=[o.pk for o in orders], state=OrderState.AWAITING_POD)
    return waiting.count() == len(orders)


def _sessions_opened() -> int:
    """Connections ever opened to the test database (PostgreSQL's own counter)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def _settled_sessions() -> int:
    """The counter once every process has reported its connections (within about a second)."""
    readings = [_sessions_opened()]
    wait_until(
        lambda: readings.append(_sessions_opened()) or readings[-1] == readings[-2],
        timeout=15,
        interval=1.5,
    )
    return readings[-1]


def test_a_cluster_runs_many_steps_on_the_connections_it_opened(live_db, carrier, qcluster):
    cluster = qcluster()
    warm_up = [start_order(value=50)]
    assert wait_until(lambda: _dispatched(warm_up), timeout=60), cluster.log()
    before = _settled_sessions()

    orders = [start_order(value=50) for _ in range(15)]
    assert wait_until(lambda: _dispatched(orders), timeout=120), cluster.log()
    opened = _settled_sessions() - before

    # 30 steps, each once a new connection for its worker, its pusher poll and its monitor
    # acknowledgement; now the cluster's processes keep theirs (a stray one for a schedule).
    assert opened <= 3, f"{opened} connections opened for 30 steps"
    # The steps' outcomes are their executions: django-q2 keeps no result row for them.
    assert not Task.objects.filter(func=engine.RUN_EXECUTION_JOB, success=True).exists()


def test_a_cluster_carries_on_after_the_database_drops_its_connections(live_db, carrier, qcluster):
    cluster = qcluster()
    warm_up = [start_order(value=50) for _ in range(3)]
    assert wait_until(lambda: _dispatched(warm_up), timeout=60), cluster.log()

    # What a PostgreSQL restart or a failover does to every kept connection.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        dropped = cursor.fetchone()[0]
    assert dropped >= 3  # at least the two workers' and the pusher's

    orders = [start_order(value=50) for _ in range(10)]
    assert wait_until(lambda: _dispatched(orders), timeout=120), cluster.log()
    assert cluster.process.poll() is None, "the cluster died instead of reconnecting"
