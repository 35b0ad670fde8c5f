"""Reports read from the log match figures computed by hand on a known set of events."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from approvals import selectors as task_selectors
from approvals.services import approve_task, reject_task
from audit.models import Event
from decisions.services import decide, record_override
from demo.seed import GROUP_PERMISSIONS
from observability.reports import Window, run_report
from observability.reports.percentiles import percentile
from opscore.actors import SYSTEM, Actor
from processes.orders.rules import ORDER_CARRIER
from tests.factories import (
    api_key,
    order_in_review,
    order_received_event,
    reviewer,
    start_order,
    user_with_perms,
)
from tests.workflows.drain import drain_executions
from workflows import engine

pytestmark = pytest.mark.django_db

# Monday 16 November 2026, 09:00 UTC (ISO week 2026-W47).
T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
WINDOW = Window(since=T0, until=T0 + timedelta(days=1))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@contextmanager
def clock(moment: datetime) -> Iterator[None]:
    with time_machine.travel(moment, tick=False):
        yield


def run_order(*, start: float, policy: float, dispatch: float, pod: float | None) -> None:
    """An order through the engine: `policy`, `dispatch` and `pod` seconds in each step; with
    pod None it stays waiting for its proof of delivery."""
    with clock(at(start)):
        order = start_order()
    moment = start
    for name, seconds in (("clear_policy", policy), ("mark_dispatched", dispatch)):
        moment += seconds
        with clock(at(moment)):
            order = engine.transition(instance=order, name=name, actor=SYSTEM)
    if pod is not None:
        with clock(at(moment + pod)):
            engine.transition(instance=order, name="confirm_delivery", actor=SYSTEM)


@pytest.fixture
def known_orders(db) -> None:
    """Five orders finished in the window, one still running, one finished before it.

    cycle times 100, 200, 300, 400, 1000 s; the 1000 s one started before the window, so its
    policy and dispatch stays ended before the window too.
    """
    run_order(start=-7200, policy=60, dispatch=60, pod=1080)  # all before the window
    run_order(start=0, policy=10, dispatch=5, pod=85)  # 100
    run_order(start=600, policy=20, dispatch=5, pod=175)  # 200
    run_order(start=1200, policy=30, dispatch=5, pod=265)  # 300
    run_order(start=3500, policy=40, dispatch=5, pod=355)  # 400, finishes 10:05
    run_order(start=-600, policy=50, dispatch=5, pod=945)  # 1000
    with clock(at(100)):
        running = start_order()
    with clock(at(130)):
        engine.transition(instance=running, name="clear_policy", actor=SYSTEM)


def test_percentiles_interpolate_between_ranks_as_percentile_cont():
    assert percentile([100, 200, 300, 400, 1000], 0.5) == 300
    assert percentile([100, 200, 300, 400, 1000], 0.9) == pytest.approx(760)
    assert percentile([100, 200, 300, 400, 1000], 0.99) == pytest.approx(976)
    assert percentile([7], 0.99) == 7
    assert percentile([], 0.5) is None


@pytest.mark.postgres
def test_percentiles_agree_with_postgresql_percentile_cont():
    if connection.vendor != "postgresql":
        pytest.skip("percentile_cont is PostgreSQL's")
    values = [3.0, 1.5, 10.0, 7.25, 7.25, 100.0, 0.5]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY v) "
            "FROM unnest(%s::float8[]) AS v",
            [values],
        )
        expected = cursor.fetchone()[0]
    ordered = sorted(values)
    assert [percentile(ordered, p) for p in (0.5, 0.9, 0.99)] == pytest.approx(expected)


def test_cycle_time_counts_instances_that_finished_in_the_window(known_orders):
    table = run_report(name="cycle-time", window=WINDOW)

    assert table.columns == ("workflow", "outcome", "instances", "p50_s", "p90_s", "p99_s")
    assert table.rows == [("order", "completed", 5, 300.0, 760.0, 976.0)]


def test_step_time_counts_stays_that_ended_in_the_window(known_orders):
    rows = {row[1]: row[2:] for row in run_report(name="step-time", window=WINDOW).rows}

    # policy stays 10, 20, 30, 40 and the running order's 30; the early order's 50 ended before.
    assert rows["policy.check"] == (5, 30.0, 36.0, 39.6)
    assert rows["dispatch.execute"] == (4, 5.0, 5.0, 5.0)
    assert rows["pod.capture"] == (5, 265.0, 709.0, 921.4)
    assert set(rows) == {"policy.check", "dispatch.execute", "pod.capture"}


def test_throughput_per_hour_and_day(known_orders):
    hourly = run_report(name="throughput-hourly", window=WINDOW)
    daily = run_report(name="throughput-daily", window=WINDOW)

    assert hourly.rows == [
        ("2026-11-16T09:00Z", "order", 5, 4),
        ("2026-11-16T10:00Z", "order", 0, 1),
    ]
    assert daily.rows == [("2026-11-16", "order", 5, 5)]


def test_sla_attainment_per_queue_compares_the_decision_with_the_due_time(db):
    rita = reviewer("rita")
    actor = Actor.for_user(rita)
    late = timedelta(minutes=10)
    for decide_at, verdict in (
        (-late, "approve"),
        (-late, "approve"),
        (-late, "reject"),
        (late, "approve"),
    ):
        with clock(at(0)):
            order = order_in_review()
        task = task_selectors.active_task_for(instance=order)
        with clock(task.due_at + decide_at):
            if verdict == "approve":
                approve_task(task=task, actor=actor)
            else:
                reject_task(task=task, actor=actor, reason="not ours")

    table = run_report(name="sla", window=WINDOW)

    assert table.rows == [("reviewers", 4, 3, 1, 0, 0.75)]


def test_dead_letter_rate_per_step(db, carrier):
    with clock(at(0)):
        start_order(postcode="123")  # policy passes, dispatch dies: no postcode area
        start_order(postcode="4567")
        start_order(value="a lot")  # policy dies: the value is not a number
        start_order()  # all the way to the carrier
        drain_executions()

    table = run_report(name="dead-letters", window=WINDOW)

    assert table.rows == [
        ("order", "dispatch.execute", 3, 2, 0, 0.6667),
        ("order", "policy.check", 4, 1, 0, 0.25),
    ]


def test_override_rate_per_rule_row(db):
    clerk = Actor.for_user(user_with_perms(username="clerk"))
    with clock(at(0)):
        order = start_order()
        for area, overridden in (
            ("M", True),
            ("M", False),
            ("A", True),
            ("A", False),
            ("A", False),
        ):
            decide(
                rule_set=ORDER_CARRIER,
                inputs={"weight_kg": 2.0, "postcode_area": area},
                instance=order,
            )
            if overridden:
                record_override(
                    instance=order,
                    rule_set=ORDER_CARRIER,
                    chosen={"carrier": "freightline"},
                    reason="customer asked",
                    actor=clerk,
                )

    table = run_report(name="overrides", window=WINDOW)

    assert table.rows == [
        ("order-carrier", "south", 2, 1, 0.5),
        ("order-carrier", "north", 3, 1, 0.3333),
    ]


def _post(client: APIClient, key: str, body: bytes) -> int:
    return client.post(
        "/api/v1/events",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    ).status_code


def test_rejection_rate_per_integration(db):
    client = APIClient()
    shop, erp = api_key(integration="shop"), api_key(integration="erp")
    with clock(at(0)):
        statuses = [
            _post(client, shop, json.dumps(order_received_event()).encode()),
            _post(client, shop, json.dumps(order_received_event()).encode()),
            _post(client, shop, json.dumps(order_received_event()).encode()),
            _post(client, shop, b"{not json"),
            _post(client, erp, json.dumps(order_received_event(source="erp")).encode()),
            _post(client, "opk_not_a_key", json.dumps(order_received_event()).encode()),
        ]
    assert statuses == [201, 201, 201, 400, 201, 401]

    rows = {row[0]: row[1:4] for row in run_report(name="rejections", window=WINDOW).rows}

    assert rows == {"shop": (3, 1, 0.25), "erp": (1, 0, 0.0), "(api)": (0, 1, 1.0)}


# --- the command ---------------------------------------------------------------------------


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command("report", *args, stdout=out)
    return out.getvalue()


def test_report_command_prints_csv_and_json_of_the_same_table(known_orders):
    window = ["--since", "2026-11-16T09:00:00Z", "--until", "2026-11-17"]

    as_csv = list(csv.reader(io.StringIO(_command("cycle-time", *window, "--format", "csv"))))
    as_json = json.loads(_command("cycle-time", *window, "--format", "json"))
    as_table = _command("cycle-time", *window)

    assert as_csv == [
        ["workflow", "outcome", "instances", "p50_s", "p90_s", "p99_s"],
        ["order", "completed", "5", "300.0", "760.0", "976.0"],
    ]
    assert as_json["columns"] == as_csv[0]
    assert as_json["rows"] == [
        {
            "workflow": "order",
            "outcome": "completed",
            "instances": 5,
            "p50_s": 300.0,
            "p90_s": 760.0,
            "p99_s": 976.0,
        }
    ]
    assert as_json["since"] == "2026-11-16T09:00:00+00:00"
    assert as_json["until"] == "2026-11-17T00:00:00+00:00"
    assert "Cycle time per workflow" in as_table
    assert "976.0" in as_table


def test_report_command_takes_spans_back_from_now(known_orders):
    with clock(at(4000)):
        recent = json.loads(_command("throughput-hourly", "--since", "30m", "--format", "json"))

    assert recent["since"] == at(4000 - 1800).isoformat()
    assert recent["rows"] == [
        {"period": "2026-11-16T09:00Z", "workflow": "order", "started": 1, "finished": 0},
        {"period": "2026-11-16T10:00Z", "workflow": "order", "started": 0, "finished": 1},
    ]


def test_report_command_lists_the_reports():
    listed = _command("--list")

    for name in ("cycle-time", "step-time", "sla", "throughput-hourly", "throughput-daily",
                 "dead-letters", "overrides", "rejections", "patterns"):  # fmt: skip
        assert f"{name} " in listed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("no-such-report",), "no report named 'no-such-report'"),
        (("sla", "--since", "last tuesday"), "'last tuesday' is not a date"),
        (("sla", "--since", "2026-13-45"), "'2026-13-45' is not a date"),
        (("sla", "--since", "99999999999d"), "before the calendar starts"),
        (("sla", "--since", "2026-11-17", "--until", "2026-11-16"), "the window is empty"),
        ((), "name a report"),
    ],
)
def test_report_command_errors_are_clear(db, args, message):
    with pytest.raises(CommandError, match=message):
        _command(*args)


# --- admin pages ---------------------------------------------------------------------------

KNOWN_WINDOW = {"since": "2026-11-16T09:00:00Z", "until": "2026-11-17"}


def test_report_pages_show_to_a_supervisor_with_the_permission_and_download_as_csv(
    known_orders, client
):
    supervisor = user_with_perms(  # the demo's supervisor role, as seeded
        *GROUP_PERMISSIONS["supervisors"], username="sue", group="supervisors"
    )
    client.force_login(supervisor)

    index = client.get("/admin/reports/")
    page = client.get("/admin/reports/cycle-time/", KNOWN_WINDOW)
    download = client.get("/admin/reports/cycle-time/", {**KNOWN_WINDOW, "format": "csv"})
    as_json = client.get("/admin/reports/patterns/", {**KNOWN_WINDOW, "format": "json"})

    assert index.status_code == 200
    assert b'href="/admin/reports/patterns/"' in index.content
    assert page.status_code == 200
    assert b"<td>976.0</td>" in page.content
    assert download.status_code == 200
    assert download["Content-Type"] == "text/csv; charset=utf-8"
    assert download["Content-Disposition"].startswith('attachment; filename="cycle-time-')
    assert list(csv.reader(io.StringIO(download.content.decode()))) == [
        ["workflow", "outcome", "instances", "p50_s", "p90_s", "p99_s"],
        ["order", "completed", "5", "300.0", "760.0", "976.0"],
    ]
    assert as_json.json()["columns"][:3] == ["kind", "signature", "2026-W47"]


def test_report_pages_refuse_view_only_staff_without_the_permission(known_orders, client):
    viewer = user_with_perms("audit.view_event", "processes.view_order", username="vic")
    client.force_login(viewer)
    events_before = Event.objects.count()

    responses = [
        client.get("/admin/reports/"),
        client.get("/admin/reports/cycle-time/", KNOWN_WINDOW),
        client.get("/admin/reports/cycle-time/", {**KNOWN_WINDOW, "format": "csv"}),
    ]

    assert [response.status_code for response in responses] == [403, 403, 403]
    assert all(b"976.0" not in response.content for response in responses)
    assert Event.objects.count() == events_before


def test_report_pages_send_anonymous_visitors_to_the_admin_login(client):
    response = client.get("/admin/reports/sla/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_report_pages_answer_a_bad_window_with_400_and_an_unknown_report_with_404(db, client):
    client.force_login(user_with_perms("observability.view_reports", username="sue"))

    bad = client.get("/admin/reports/sla/", {"since": "soon"})
    overflow = client.get("/admin/reports/sla/", {"since": "9999999999w"})
    empty = client.get("/admin/reports/sla/", {"since": "2026-11-17", "until": "2026-11-16"})
    unknown = client.get("/admin/reports/no-such-report/")

    assert bad.status_code == 400
    assert b"is not a date" in bad.content
    assert empty.status_code == 400
    assert overflow.status_code == 400
    assert unknown.status_code == 404
