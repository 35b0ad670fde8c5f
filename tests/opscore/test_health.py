"""/healthz and /readyz: each readiness check fails for its own reason, and says which."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection, connections, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Schedule, Task
from django_q.monitor import save_task
from django_q.tasks import async_task

from audit.models import ChainHead
from integrations.models import Rejection
from opscore import health
from tests.conftest import free_port, wait_until
from tests.factories import cluster_heartbeat

# What the sweeper schedules run (their migrations create them under these names).
SWEEPERS = {
    "opscore.sweeper": "workflows.jobs.sweep",
    "opscore.review_deadlines": "approvals.jobs.sweep_review_deadlines",
}
# A load balancer probing a pod by its address: a Host that is not in ALLOWED_HOSTS.
POD_HOST = "10.42.0.17:8000"


@pytest.fixture(autouse=True)
def fresh_process_state():
    health.forget_migration_state()
    yield
    health.forget_migration_state()


def _beat() -> None:
    cluster_heartbeat(cluster_id="probe-test-cluster")


def _sweep(monkeypatch) -> None:
    """Run each sweeper as its schedule does (group = schedule name); the task row is saved."""
    # sync=True alone would let django-q2 close the test's connection after saving the task.
    monkeypatch.setattr(Conf, "SYNC", True)
    for name, func in SWEEPERS.items():
        async_task(func, group=name, sync=True)
    assert set(Task.objects.filter(success=True).values_list("group", flat=True)) >= set(SWEEPERS)


def _readyz(client, **extra):
    response = client.get("/readyz", HTTP_HOST=POD_HOST, **extra)
    body = response.json()
    return response.status_code, body, {n for n, c in body["checks"].items() if not c["ok"]}


@pytest.mark.django_db
def test_healthz_answers_any_host_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz", HTTP_HOST=POD_HOST)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readyz_is_ok_with_a_live_cluster_and_a_recent_sweep(client, monkeypatch):
    _sweep(monkeypatch)
    _beat()
    rejections = Rejection.objects.count()

    status, body, failing = _readyz(client)

    assert (status, body["status"], failing) == (200, "ok", set()), body
    assert list(body["checks"]) == ["database", "migrations", "chain_head", "cluster", "sweeper"]
    for check in body["checks"].values():
        assert isinstance(check["detail"], str)
        assert check["detail"]
        assert isinstance(check["ms"], float)
    assert Rejection.objects.count() == rejections


@pytest.mark.django_db
def test_readyz_reads_the_migration_graph_once_then_stays_cheap(
    client, monkeypatch, django_assert_max_num_queries
):
    _sweep(monkeypatch)
    _beat()
    assert _readyz(client)[0] == 200
    loads = []
    monkeypatch.setattr(health, "MigrationExecutor", lambda *a: loads.append(a))

    # A fixed handful: SELECT 1, the head, django-q2's stat keys (it rewrites their list), the
    # remembered heartbeat, one aggregate over the sweepers' tasks; on PostgreSQL also the
    # head lock's savepoint, SET LOCAL and rollback.
    with django_assert_max_num_queries(16):
        status, body, _failing = _readyz(client)

    assert status == 200
    assert loads == []
    assert "checked at first probe" in body["checks"]["migrations"]["detail"]


@pytest.mark.django_db
def test_probes_answer_head_and_refuse_other_methods(client):
    head = client.head("/healthz", HTTP_HOST=POD_HOST)
    post = client.post("/readyz", HTTP_HOST=POD_HOST)
    assert (head.status_code, head.content) == (200, b"")
    assert (post.status_code, post["Allow"]) == (405, "GET, HEAD")


@pytest.mark.django_db
def test_readyz_names_the_cluster_when_no_heartbeat_was_ever_seen(client, monkeypatch):
    _sweep(monkeypatch)

    status, body, failing = _readyz(client)

    assert (status, body["status"], failing) == (503, "failing", {"cluster"}), body
    assert "no django-q2 cluster heartbeat" in body["checks"]["cluster"]["detail"]


@pytest.mark.django_db
def test_readyz_names_the_cluster_once_its_heartbeat_is_older_than_the_bound(client, monkeypatch):
    _sweep(monkeypatch)
    _beat()
    assert _readyz(client)[0] == 200

    with time_machine.travel(timezone.now() + timedelta(seconds=121)):
        status, body, failing = _readyz(client)

    assert (status, failing) == (503, {"cluster"}), body
    assert "max 120 s" in body["checks"]["cluster"]["detail"]


@pytest.mark.django_db
def test_readyz_names_the_sweeper_once_its_last_run_is_older_than_the_bound(client, monkeypatch):
    _sweep(monkeypatch)
    with time_machine.travel(timezone.now() + timedelta(seconds=301)):
        _beat()
        status, body, failing = _readyz(client)

    assert (status, failing) == (503, {"sweeper"}), body
    assert "opscore.sweeper" in body["checks"]["sweeper"]["detail"]


@pytest.mark.django_db
def test_readyz_names_the_sweeper_when_its_runs_fail(client, monkeypatch):
    _beat()
    for name, func in SWEEPERS.items():
        # What the monitor saves when a worker's sweep raised.
        save_task(
            {
                "id": uuid.uuid4().hex,
                "name": f"{name}-failed",
                "func": func,
                "args": (),
                "kwargs": {},
                "group": name,
                "started": timezone.now(),
                "stopped": timezone.now(),
                "result": "Traceback: OperationalError",
                "success": False,
                "sync": True,
            },
            get_broker(),
        )
    assert Task.objects.filter(group__in=SWEEPERS, success=False).count() == 2

    status, body, failing = _readyz(client)

    assert (status, failing) == (503, {"sweeper"}), body
    assert "never succeeded" in body["checks"]["sweeper"]["detail"]


@pytest.mark.django_db
def test_readyz_names_the_migrations_when_one_is_unapplied(client, monkeypatch):
    _sweep(monkeypatch)
    _beat()
    # The recorder's row is what "applied" means to Django: without it, migrate would run it.
    leaf = next(
        node for node in MigrationLoader(connection).graph.leaf_nodes() if node[0] == "approvals"
    )
    MigrationRecorder(connection).migration_qs.filter(app=leaf[0], name=leaf[1]).delete()

    status, body, failing = _readyz(client)

    assert (status, failing) == (503, {"migrations"}), body
    assert f"approvals.{leaf[1]}" in body["checks"]["migrations"]["detail"]


def test_readyz_names_the_database_when_it_is_unreachable(live_db, client):
    settings_dict = connection.settings_dict
    saved = dict(settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        settings_dict["NAME"] = "/nonexistent-directory/opscore.sqlite3"
    else:
        settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", str(free_port())
    try:
        response = client.get("/readyz", HTTP_HOST=POD_HOST)
    finally:
        connection.close()
        settings_dict.clear()
        settings_dict.update(saved)

    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["database"]["detail"].endswith("did not answer SELECT 1")
    # The other checks need the database: reported as not run, not as their own failures.
    for name in ("migrations", "chain_head", "cluster", "sweeper"):
        assert body["checks"][name] == {"ok": False, "detail": "not run: no database", "ms": 0.0}
    # Nothing about where the database is leaks out.
    assert saved["NAME"] not in response.content.decode()
    assert "nonexistent" not in response.content.decode()


@pytest.mark.postgres
def test_readyz_names_the_chain_head_while_a_writer_holds_it(live_db, client, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL only")
    ChainHead.objects.get_or_create(pk=1, defaults={"last_seq": 0, "last_hash": "0" * 64})
    _sweep(monkeypatch)
    _beat()
    locked, release = threading.Event(), threading.Event()

    def writer() -> None:
        try:
            with transaction.atomic():
                list(ChainHead.objects.select_for_update().filter(pk=1))
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert locked.wait(10)
        status, body, failing = _readyz(client)
    finally:
        release.set()
        thread.join()

    assert (status, failing) == (503, {"chain_head"}), body
    assert body["checks"]["chain_head"]["detail"] == "the chain head stayed locked for over 500 ms"
    assert 450 <= body["checks"]["chain_head"]["ms"] < 5000
    assert _readyz(client)[0] == 200


@pytest.mark.worker
def test_readyz_turns_ok_once_a_real_cluster_is_up(client, qcluster):
    # The cache table outlives transactional tests: no heartbeat left by an earlier one.
    cache.clear()
    # A transactional test empties the tables the migrations seeded: put the schedules back.
    for name, func in SWEEPERS.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": "I", "minutes": 1, "repeats": -1},
        )
    status, body, failing = _readyz(client)
    assert (status, failing) == (503, {"cluster", "sweeper"}), body

    cluster = qcluster()

    # The sentinel saves a heartbeat every half second; its scheduler first runs after ~30 s.
    assert wait_until(lambda: _readyz(client)[0] == 200, timeout=90), (
        _readyz(client)[1],
        cluster.log(),
    )
