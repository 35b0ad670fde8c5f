"""Alert rules: each kind opens once under its condition, tells on-call once by email and by a
signed webhook, holds while the condition holds, resolves by itself, and is in the log."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.db import connection, connections  # noqa: F401 - the skipif reads connection
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule
from django_q.monitor import save_task

from approvals.models import ReviewTask
from audit.models import Event
from integrations.models import Integration, Rejection
from observability.alerts import checks, services
from observability.models import (
    Alert,
    AlertDelivery,
    AlertKind,
    AlertRule,
    CheckName,
    CheckRun,
)
from opscore import health
from opscore.actors import SYSTEM, Actor
from tests.factories import (
    UserFactory,
    cluster_heartbeat,
    order_in_review,
    start_order,
    user_with_perms,
)
from workflows import engine
from workflows.models import Execution
from workflows.models.execution import ExecutionStatus

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=True) as traveller:
        yield traveller


@pytest.fixture
def on_call(db) -> Group:
    group = Group.objects.create(name="on-call")
    UserFactory(username="pager", email="pager@example.test").groups.add(group)
    return group


# --- each kind's condition: how to make it hold, and how to clear it -----------------------


def _beat() -> None:
    cluster_heartbeat(cluster_id="alert-test-cluster")


def _sweeps_succeeded() -> None:
    for name in ("opscore.sweeper", "opscore.review_deadlines"):
        save_task(
            {
                "id": uuid.uuid4().hex,
                "name": f"{name}-ok",
                "func": "workflows.jobs.sweep",
                "args": (),
                "kwargs": {},
                "group": name,
                "started": timezone.now(),
                "stopped": timezone.now(),
                "result": None,
                "success": True,
                "sync": True,
            },
            None,
        )


def _rejections(*, status: int, count: int) -> None:
    shop, _ = Integration.objects.get_or_create(name="shop")
    for _ in range(count):
        Rejection.objects.create(
            channel="api", integration=shop, status=status, problem="x", detail="refused"
        )


def _failed_check(name: str) -> Callable[[dict, object], None]:
    def hold(state: dict, clock) -> None:
        CheckRun.objects.create(
            name=name,
            started_at=timezone.now(),
            finished_at=timezone.now(),
            ok=False,
            detail={"error": "chain broken at #3: row altered"},
        )

    return hold


@dataclass(frozen=True)
class Case:
    rule: dict
    hold: Callable[[dict, object], object]
    clear: Callable[[dict, object], object]
    prepare: Callable[[dict], object] = lambda state: None


def _dead_letter(state: dict, clock=None) -> None:
    state["order"] = start_order()
    Execution.objects.filter(step="policy.check").update(status=ExecutionStatus.DEAD)


def _supervisor():
    return user_with_perms("processes.cancel_order", "processes.view_order")


def _overdue_task(state: dict, clock) -> None:
    order_in_review()
    ReviewTask.objects.update(due_at=timezone.now() - timedelta(minutes=10))


CASES = {
    AlertKind.DEAD_LETTERS: Case(
        rule={"workflow": "order"},
        hold=_dead_letter,
        # An operator cancels the order: its dead execution no longer waits for anyone.
        clear=lambda state, clock: engine.transition(
            instance=state["order"], name="cancel", actor=Actor.for_user(_supervisor())
        ),
    ),
    AlertKind.CLUSTER_SILENT: Case(
        rule={"window": timedelta(0)},
        prepare=lambda state: _beat(),
        hold=lambda state, clock: clock.shift(timedelta(seconds=130)),  # bound: 120 s
        clear=lambda state, clock: _beat(),
    ),
    AlertKind.SWEEPER_STALE: Case(
        rule={"window": timedelta(0)},
        prepare=lambda state: _sweeps_succeeded(),
        hold=lambda state, clock: clock.shift(timedelta(seconds=310)),  # bound: 300 s
        clear=lambda state, clock: _sweeps_succeeded(),
    ),
    AlertKind.SLA_BREACH_RATE: Case(
        rule={"threshold": 0.2, "window": timedelta(hours=1)},
        hold=_overdue_task,
        clear=lambda state, clock: clock.shift(timedelta(hours=2)),
    ),
    AlertKind.REJECTION_SPIKE: Case(
        rule={"integration": "shop", "threshold": 5, "window": timedelta(minutes=5)},
        prepare=lambda state: _rejections(status=422, count=4),
        hold=lambda state, clock: _rejections(status=422, count=1),
        clear=lambda state, clock: clock.shift(timedelta(minutes=6)),
    ),
    AlertKind.AUTH_FAILURE_STORM: Case(
        rule={"integration": "shop", "threshold": 3, "window": timedelta(minutes=5)},
        prepare=lambda state: _rejections(status=422, count=5),  # refused, but not 401
        hold=lambda state, clock: _rejections(status=401, count=3),
        clear=lambda state, clock: clock.shift(timedelta(minutes=6)),
    ),
    AlertKind.STUCK_INSTANCES: Case(
        rule={"workflow": "order"},
        prepare=lambda state: state.update(order=start_order()),
        # policy.check may take 5 x (60 s lease + 900 s backoff), plus the 5 min grace.
        hold=lambda state, clock: clock.shift(timedelta(hours=2)),
        clear=lambda state, clock: engine.transition(
            instance=state["order"], name="flag_for_review", actor=SYSTEM
        ),
    ),
    AlertKind.AUDIT_VERIFY_FAILED: Case(
        rule={},
        prepare=lambda state: checks.run_check(name=CheckName.VERIFY_AUDIT),
        hold=_failed_check(CheckName.VERIFY_AUDIT),
        clear=lambda state, clock: checks.run_check(name=CheckName.VERIFY_AUDIT),
    ),
    AlertKind.PROJECTION_CHECK_FAILED: Case(
        rule={},
        prepare=lambda state: checks.run_check(name=CheckName.PROJECTION_CHECK),
        hold=_failed_check(CheckName.PROJECTION_CHECK),
        clear=lambda state, clock: checks.run_check(name=CheckName.PROJECTION_CHECK),
    ),
}


def _verified(receiver) -> list[dict]:
    """Every webhook received, as verified on arrival with `standardwebhooks`."""
    return receiver.payloads()


def _alert_events(alert: Alert) -> list[str]:
    return list(
        Event.objects.filter(instance_id=alert.pk, type__startswith="alert.")
        .order_by("seq")
        .values_list("type", flat=True)
    )


@pytest.mark.django_db
@pytest.mark.parametrize("kind", list(CASES), ids=str)
def test_each_rule_opens_once_tells_once_holds_and_resolves_with_the_log(
    kind, clock, on_call, smtp, webhook_receiver
):
    case = CASES[kind]
    state: dict = {}
    case.prepare(state)
    rule = AlertRule.objects.create(
        name=f"test {kind}", kind=kind, notify_group=on_call, **case.rule
    )
    quiet = services.evaluate_alert_rules()
    assert not Alert.objects.exists(), quiet
    assert (smtp.received(), webhook_receiver.received()) == ([], [])

    case.hold(state, clock)
    first = services.evaluate_alert_rules()
    second = services.evaluate_alert_rules()

    alert = Alert.objects.get(rule=rule)
    assert (first.opened, second.held) == ([rule.name], [rule.name])
    assert alert.resolved_at is None
    assert alert.detail["summary"]
    mail = smtp.received()
    assert len(mail) == 1
    assert mail[0]["To"] == "pager@example.test"
    assert mail[0]["Subject"].startswith(f"[opscore] ALERT {rule.name}")
    hooks = _verified(webhook_receiver)
    assert [hook["type"] for hook in hooks] == ["alert.opened"]
    assert hooks[0]["data"]["rule"] == rule.name
    assert hooks[0]["data"]["kind"] == kind
    assert _alert_events(alert) == ["alert.opened"]

    case.clear(state, clock)
    resolved = services.evaluate_alert_rules()
    services.evaluate_alert_rules()

    alert.refresh_from_db()
    assert resolved.resolved == [rule.name], resolved
    assert alert.resolved_at is not None
    mail = smtp.received()
    assert len(mail) == 2
    assert mail[1]["Subject"] == f"[opscore] Resolved {rule.name}"
    hooks = _verified(webhook_receiver)
    assert [hook["type"] for hook in hooks] == ["alert.opened", "alert.resolved"]
    assert len({headers["webhook-id"] for headers, _ in webhook_receiver.received()}) == 2
    assert _alert_events(alert) == ["alert.opened", "alert.resolved"]
    assert AlertDelivery.objects.filter(alert=alert, sent_at__isnull=False).count() == 4


@pytest.mark.django_db
def test_a_failed_webhook_is_retried_with_backoff_under_the_same_id_and_sent_once(
    clock, on_call, smtp, webhook_receiver
):
    webhook_receiver.script = [503]
    rule = AlertRule.objects.create(name="dead", kind=AlertKind.DEAD_LETTERS, notify_group=on_call)
    _dead_letter({})

    first = services.evaluate_alert_rules()
    soon = services.evaluate_alert_rules()  # before the backoff: not tried again
    clock.shift(timedelta(seconds=20))  # past the first retry delay (5-10 s)
    later = services.evaluate_alert_rules()
    services.evaluate_alert_rules()

    delivery = AlertDelivery.objects.get(alert__rule=rule, channel="webhook")
    received = webhook_receiver.received()
    assert (first.delivery.failed, soon.delivery.sent, later.delivery.sent) == (1, 0, 1)
    assert len(received) == 2
    assert received[0][0]["webhook-id"] == received[1][0]["webhook-id"] == delivery.message_id
    assert received[0][1] == received[1][1]
    assert [hook["type"] for hook in _verified(webhook_receiver)] == ["alert.opened"] * 2
    assert (delivery.attempts, delivery.sent_at is not None) == (2, True)
    assert len(smtp.received()) == 1
    assert Alert.objects.filter(rule=rule).count() == 1


@pytest.mark.django_db
def test_a_notice_is_given_up_after_the_bounded_attempts(clock, settings, webhook_receiver):
    settings.OPSCORE_ALERT_DELIVERY_MAX_ATTEMPTS = 3
    webhook_receiver.script = [500] * 10
    AlertRule.objects.create(name="dead", kind=AlertKind.DEAD_LETTERS)
    _dead_letter({})

    for _ in range(6):
        services.evaluate_alert_rules()
        clock.shift(timedelta(minutes=20))

    delivery = AlertDelivery.objects.get()
    assert (delivery.attempts, delivery.sent_at) == (3, None)
    assert "500" in delivery.last_error
    assert len(webhook_receiver.received()) == 3


@pytest.mark.django_db
def test_a_disabled_rule_resolves_its_open_alert(clock, webhook_receiver):
    rule = AlertRule.objects.create(name="dead", kind=AlertKind.DEAD_LETTERS)
    _dead_letter({})
    services.evaluate_alert_rules()
    AlertRule.objects.filter(pk=rule.pk).update(enabled=False)

    report = services.evaluate_alert_rules()

    assert report.resolved == ["dead"]
    assert Alert.objects.get().detail["summary"] == "rule disabled"


@pytest.mark.django_db
def test_consistency_checks_record_their_results(clock):
    order_in_review()

    runs = checks.run_consistency_checks()

    assert [(run.name, run.ok) for run in runs] == [
        (CheckName.VERIFY_AUDIT, True),
        (CheckName.PROJECTION_CHECK, True),
    ]
    assert runs[0].detail["checked"] == Event.objects.count()
    assert runs[1].detail["mismatches"] == 0


@pytest.mark.django_db
def test_the_schedules_exist():
    assert dict(
        Schedule.objects.filter(
            name__in=["opscore.alerts", "opscore.consistency_checks"]
        ).values_list("name", "func")
    ) == {
        "opscore.alerts": "observability.alerts.jobs.evaluate_alerts",
        "opscore.consistency_checks": "observability.alerts.jobs.run_consistency_checks",
    }


# --- acknowledging ------------------------------------------------------------------------


@pytest.fixture
def open_alert(clock) -> Alert:
    AlertRule.objects.create(name="dead", kind=AlertKind.DEAD_LETTERS)
    _dead_letter({})
    services.evaluate_alert_rules()
    return Alert.objects.get()


@pytest.mark.django_db
def test_on_call_acknowledges_an_alert_with_the_button(client, open_alert):
    pager = user_with_perms(
        "observability.view_alert", "observability.acknowledge_alert", group="on-call"
    )
    client.force_login(pager)
    page = client.get(reverse("admin:observability_alert_change", args=[open_alert.pk]))
    assert b"Acknowledge</button>" in page.content

    response = client.post(reverse("admin:observability_alert_acknowledge", args=[open_alert.pk]))

    open_alert.refresh_from_db()
    assert response.status_code == 302
    assert (open_alert.acknowledged_by, open_alert.acknowledged_at is not None) == (pager, True)
    assert _alert_events(open_alert) == ["alert.opened", "alert.acknowledged"]
    event = Event.objects.get(type="alert.acknowledged")
    assert (event.actor_kind, event.actor_ref) == ("user", pager.username)


@pytest.mark.django_db
def test_on_call_acknowledges_with_the_list_action_once(client, open_alert):
    pager = user_with_perms("observability.view_alert", "observability.acknowledge_alert")
    client.force_login(pager)
    changelist = reverse("admin:observability_alert_changelist")
    post = {"action": "acknowledge", "_selected_action": [open_alert.pk]}

    client.post(changelist, post)
    again = client.post(changelist, post, follow=True)

    open_alert.refresh_from_db()
    assert open_alert.acknowledged_by == pager
    assert "already acknowledged" in again.content.decode()
    assert _alert_events(open_alert) == ["alert.opened", "alert.acknowledged"]


@pytest.mark.django_db
def test_view_only_staff_cannot_acknowledge_and_nothing_changes(client, open_alert):
    viewer = user_with_perms("observability.view_alert")
    client.force_login(viewer)
    events = Event.objects.count()

    page = client.get(reverse("admin:observability_alert_change", args=[open_alert.pk]))
    button = client.post(reverse("admin:observability_alert_acknowledge", args=[open_alert.pk]))
    action = client.post(
        reverse("admin:observability_alert_changelist"),
        {"action": "acknowledge", "_selected_action": [open_alert.pk]},
        follow=True,
    )

    open_alert.refresh_from_db()
    assert page.status_code == 200
    assert b"Acknowledge</button>" not in page.content
    assert button.status_code == 403
    assert "lack the permission" in action.content.decode()
    assert (open_alert.acknowledged_at, open_alert.acknowledged_by) == (None, None)
    assert Event.objects.count() == events


@pytest.mark.django_db
def test_view_only_staff_cannot_change_alert_rules(client):
    rule = AlertRule.objects.create(name="dead", kind=AlertKind.DEAD_LETTERS, threshold=1)
    client.force_login(user_with_perms("observability.view_alertrule"))

    response = client.post(
        reverse("admin:observability_alertrule_change", args=[rule.pk]),
        {"name": "dead", "kind": AlertKind.DEAD_LETTERS, "enabled": "on", "threshold": "99"},
    )

    rule.refresh_from_db()
    assert response.status_code == 403
    assert rule.threshold == 1


# --- two evaluators at once -----------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_two_evaluators_at_once_open_one_alert_and_owe_one_notice(live_db, settings):
    settings.OPSCORE_ALERT_WEBHOOK_URL = "http://127.0.0.1:9/unreachable"
    settings.OPSCORE_ALERT_WEBHOOK_SECRET = SECRET
    rule = AlertRule.objects.create(name="dead", kind=AlertKind.DEAD_LETTERS)
    _dead_letter({})
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def evaluate() -> None:
        try:
            finding = services.evaluate(rule, now=timezone.now())
            barrier.wait(timeout=10)
            outcomes.append(services.apply_finding(rule=rule, finding=finding, now=timezone.now()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=evaluate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["held", "opened"]
    assert Alert.objects.filter(rule=rule).count() == 1
    assert AlertDelivery.objects.filter(alert__rule=rule).count() == 1
    assert Event.objects.filter(type="alert.opened").count() == 1


@pytest.mark.django_db
def test_the_demo_seeds_one_rule_per_kind_for_on_call_once():
    from observability.alerts.seed import seed_default_alert_rules

    created = seed_default_alert_rules()
    again = seed_default_alert_rules()

    assert (created, again) == (AlertRule.objects.count(), 0)
    assert set(AlertRule.objects.values_list("kind", flat=True)) == set(AlertKind.values)
    assert set(AlertRule.objects.values_list("notify_group__name", flat=True)) == {"on-call"}


@pytest.mark.django_db
def test_on_call_tunes_a_rule_in_admin_and_a_misnamed_workflow_is_refused(client):
    rule = AlertRule.objects.create(name="stuck", kind=AlertKind.STUCK_INSTANCES, threshold=1)
    client.force_login(
        user_with_perms("observability.view_alertrule", "observability.change_alertrule")
    )
    url = reverse("admin:observability_alertrule_change", args=[rule.pk])
    form = {"name": "stuck", "kind": AlertKind.STUCK_INSTANCES, "enabled": "on"}

    refused = client.post(url, {**form, "workflow": "ordr", "threshold": "5"})
    saved = client.post(url, {**form, "workflow": "order", "threshold": "5"})

    rule.refresh_from_db()
    assert refused.status_code == 200
    assert "no workflow &#x27;ordr&#x27;" in refused.content.decode()
    assert saved.status_code == 302
    assert (rule.workflow, rule.threshold) == ("order", 5)
    assert rule.history.count() == 2


@pytest.mark.django_db
def test_the_scheduled_tasks_evaluate_and_check(clock, webhook_receiver):
    from observability.alerts import jobs

    AlertRule.objects.create(name="dead", kind=AlertKind.DEAD_LETTERS)
    _dead_letter({})

    assert jobs.evaluate_alerts().startswith("opened 1, held 0, resolved 0, failed 0")
    assert jobs.run_consistency_checks() == "verify_audit ok; projection_check ok"
    assert len(webhook_receiver.payloads()) == 1


@pytest.mark.worker
def test_a_real_cluster_keeps_the_silent_cluster_alert_closed_until_it_stops(qcluster):
    from django.core.cache import cache
    from django_q.models import Task
    from django_q.tasks import async_task

    from tests.conftest import wait_until

    cache.clear()  # the cache table outlives transactional tests: no earlier heartbeat
    rule = AlertRule.objects.create(
        name="silent", kind=AlertKind.CLUSTER_SILENT, window=timedelta(0)
    )
    cluster = qcluster()

    def live() -> bool:
        try:
            return bool(health.check_cluster())
        except health.CheckFailed:
            return False

    assert wait_until(live, timeout=30), cluster.log()

    # The evaluation runs in the cluster's worker, as the schedule's task does.
    async_task("observability.alerts.jobs.evaluate_alerts")
    assert wait_until(
        lambda: Task.objects.filter(func__endswith="evaluate_alerts").exists(), timeout=30
    ), cluster.log()
    task = Task.objects.get(func__endswith="evaluate_alerts")
    assert task.success, task.result
    assert not Alert.objects.filter(rule=rule).exists(), task.result

    cluster.stop()
    with time_machine.travel(timezone.now() + timedelta(seconds=130)):
        report = services.evaluate_alert_rules()

    assert report.opened == ["silent"]
    assert "heartbeat" in Alert.objects.get(rule=rule).detail["summary"]


@pytest.mark.postgres
@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_two_deliverers_at_once_send_a_notice_once(live_db, webhook_receiver):
    webhook_receiver.delay = 0.5  # both deliverers see the notice due before either finishes
    AlertRule.objects.create(name="dead", kind=AlertKind.DEAD_LETTERS)
    _dead_letter({})
    services.apply_finding(
        rule=AlertRule.objects.get(),
        finding=services.evaluate(AlertRule.objects.get(), now=timezone.now()),
        now=timezone.now(),
    )
    barrier = threading.Barrier(2)
    reports = []

    def deliver() -> None:
        try:
            barrier.wait(timeout=10)
            reports.append(services.deliver_due())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(report.sent for report in reports) == [0, 1]
    assert len(webhook_receiver.payloads()) == 1
    assert AlertDelivery.objects.get().attempts == 1


@pytest.mark.django_db
def test_the_alert_admin_pages_render_for_on_call(client, open_alert):
    from observability.alerts import selectors

    CheckRun.objects.create(
        name=CheckName.VERIFY_AUDIT,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        ok=True,
        detail={"checked": 1},
    )
    client.force_login(
        user_with_perms(
            "observability.view_alertrule",
            "observability.view_alert",
            "observability.view_alertdelivery",
            "observability.view_checkrun",
        )
    )
    rule = open_alert.rule
    pages = [
        reverse("admin:observability_alertrule_changelist"),
        reverse("admin:observability_alertrule_change", args=[rule.pk]),
        reverse("admin:observability_alertrule_history", args=[rule.pk]),
        reverse("admin:observability_alert_changelist"),
        reverse("admin:observability_alert_change", args=[open_alert.pk]),
        reverse("admin:observability_checkrun_changelist"),
    ]

    assert [client.get(page).status_code for page in pages] == [200] * len(pages)
    assert list(selectors.open_alerts()) == [open_alert]
    assert list(selectors.rules_covering_workflow(workflow="order")) == [rule]


@pytest.mark.django_db
def test_a_readiness_alert_opens_only_once_the_check_failed_for_the_whole_window(clock):
    _beat()
    rule = AlertRule.objects.create(
        name="silent", kind=AlertKind.CLUSTER_SILENT, window=timedelta(minutes=2)
    )
    clock.shift(timedelta(seconds=130))  # the heartbeat is past its 120 s bound

    failing = services.evaluate_alert_rules()
    clock.shift(timedelta(seconds=60))
    still_held_back = services.evaluate_alert_rules()
    clock.shift(timedelta(seconds=61))
    opened = services.evaluate_alert_rules()

    assert (failing.opened, still_held_back.opened, opened.opened) == ([], [], ["silent"])
    since = datetime.fromisoformat(Alert.objects.get(rule=rule).detail["failing_since"])
    assert timezone.now() - since >= timedelta(minutes=2)


@pytest.mark.django_db
def test_the_command_notices_a_silent_cluster_with_no_cluster_running(clock, capsys):
    from django.core.management import call_command

    AlertRule.objects.create(name="silent", kind=AlertKind.CLUSTER_SILENT, window=timedelta(0))

    call_command("evaluate_alerts")

    assert capsys.readouterr().out.startswith("opened 1, held 0, resolved 0, failed 0")
    assert "no django-q2 cluster heartbeat" in Alert.objects.get().detail["summary"]


@pytest.mark.django_db
def test_an_evaluation_of_the_default_rules_costs_the_same_queries_whatever_the_data(clock):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    from observability.alerts.seed import seed_default_alert_rules

    seed_default_alert_rules()
    Group.objects.get(name="on-call").user_set.add(UserFactory(username="pager"))

    def one_pass(orders: int, rejections: int) -> int:
        for _ in range(orders):
            start_order()
        _rejections(status=401, count=rejections)
        clock.shift(timedelta(hours=3))  # every order stuck in policy.check
        services.evaluate_alert_rules()  # opens what opens; the pass measured holds
        with CaptureQueriesContext(db) as queries:
            services.evaluate_alert_rules()
        return len(queries)

    small = one_pass(orders=1, rejections=20)  # the 401 storm opens in both
    large = one_pass(orders=10, rejections=200)

    assert small == large, (small, large)
