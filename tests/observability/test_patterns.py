"""Recurring patterns: grouped by cause, counted per ISO week, growth seen, eaten rules flagged."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command

from approvals import selectors as task_selectors
from approvals.services import sweep_review_deadlines
from decisions.services import decide, record_override
from integrations.models import Channel
from integrations.services import record_rejection
from observability.patterns import (
    normalise_message,
    recurring_patterns,
    rules_eaten_by_exceptions,
    weeks_of,
)
from observability.reports import Window
from opscore.actors import Actor
from opscore.api_errors import Problem
from processes.orders.rules import ORDER_CARRIER
from tests.factories import order_in_review, start_order, user_with_perms
from tests.workflows.drain import drain_executions

pytestmark = pytest.mark.django_db

W45 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # Monday of ISO week 2026-W45
W46 = W45 + timedelta(weeks=1)
W47 = W45 + timedelta(weeks=2)
WINDOW = Window(since=datetime(2026, 11, 2, tzinfo=UTC), until=datetime(2026, 11, 18, tzinfo=UTC))

BAD_VALUE = "order policy.check | InvalidOrder | order context needs a numeric 'value'"
NO_AREA = (
    "order dispatch.execute | InvalidOrder | postcode '<n>' does not start with an area (letters)"
)


def test_messages_differing_only_in_numbers_ids_and_times_normalise_alike():
    same = {
        normalise_message(text)
        for text in (
            "carrier refused order SO-000123 (HTTP 503) at 2026-11-16T09:00:00+00:00",
            "carrier refused order SO-987 (HTTP 502) at 2026-11-17 10:15:02.123Z",
        )
    }
    assert same == {"carrier refused order SO-<n> (HTTP <n>) at <time>"}
    assert normalise_message(
        "no instance 3f2b8c1e-9d4a-4e6f-8a7b-1c2d3e4f5a6b for key order:17:dispatch.execute:v3"
    ) == normalise_message(
        "no instance 00000000-0000-4000-8000-000000000000 for key order:4:dispatch.execute:v12"
    )
    assert normalise_message("chain hash 9f86d081884c7d659a2feaa0c55ad015 broke") == (
        "chain hash <hex> broke"
    )
    assert normalise_message("carrier refused order SO-1") != normalise_message(
        "carrier timed out on order SO-1"
    )


def test_weeks_are_iso_weeks_the_window_touches():
    assert weeks_of(WINDOW) == ["2026-W45", "2026-W46", "2026-W47"]
    one_day = Window(since=W47, until=W47 + timedelta(days=1))
    assert weeks_of(one_day) == ["2026-W47"]


def _dead_letters(moment: datetime, *, bad_values: int = 0, bad_postcodes: tuple[str, ...] = ()):
    with time_machine.travel(moment, tick=False):
        for _ in range(bad_values):
            start_order(value="n/a")  # policy.check dies
        for postcode in bad_postcodes:
            start_order(postcode=postcode)  # policy passes, dispatch.execute dies
        drain_executions()


def test_dead_letters_group_by_cause_and_growth_is_seen():
    _dead_letters(W45, bad_values=1, bad_postcodes=("12", "345"))
    _dead_letters(W46, bad_values=1)
    _dead_letters(W47, bad_values=3)

    patterns = {p.signature: p for p in recurring_patterns(WINDOW) if p.kind == "dead letter"}

    assert set(patterns) == {BAD_VALUE, NO_AREA}
    bad_value, no_area = patterns[BAD_VALUE], patterns[NO_AREA]
    assert bad_value.per_week == {"2026-W45": 1, "2026-W46": 1, "2026-W47": 3}
    assert (bad_value.this_week, bad_value.previous_mean, bad_value.trend) == (3, 1.0, "growing")
    assert no_area.per_week == {"2026-W45": 2, "2026-W46": 0, "2026-W47": 0}
    assert (no_area.this_week, no_area.previous_mean, no_area.trend) == (0, 1.0, "shrinking")
    assert no_area.example.startswith("InvalidOrder: postcode '12'")


def test_rejections_group_by_problem_and_caller_weighted_by_their_count(settings):
    settings.OPSCORE_REJECTION_BURST = 1  # the second unauthenticated refusal aggregates

    def refuse(code: str, status: int, *, authenticated: bool = True) -> None:
        record_rejection(
            channel=Channel.WEBHOOK,
            problem=Problem(status=status, code=code, title=code, detail=f"refused {code} 42"),
            client_ip="192.0.2.7",
            authenticated=authenticated,
        )

    with time_machine.travel(W47, tick=False):
        refuse("bad_signature", 401, authenticated=False)
        refuse("bad_signature", 401, authenticated=False)
        refuse("bad_signature", 401, authenticated=False)
        refuse("schema_violation", 422)

    patterns = {p.signature: p for p in recurring_patterns(WINDOW) if p.kind == "rejection"}

    assert {signature: p.this_week for signature, p in patterns.items()} == {
        "bad_signature | (webhook)": 3,
        "schema_violation | (webhook)": 1,
    }
    assert patterns["bad_signature | (webhook)"].trend == "new"


def test_escalations_group_by_step_and_route():
    with time_machine.travel(W46, tick=False):
        first, second = order_in_review(), order_in_review()
    for order in (first, second):
        due_at = task_selectors.active_task_for(instance=order).due_at
        with time_machine.travel(due_at + timedelta(minutes=1), tick=False):
            sweep_review_deadlines()

    patterns = [p for p in recurring_patterns(WINDOW) if p.kind == "escalation"]

    assert [(p.signature, p.per_week["2026-W46"]) for p in patterns] == [
        ("order manual.review | reviewers -> supervisors", 2)
    ]


# --- the exception that ate the rule -------------------------------------------------------

# postcode area and weight that make each carrier row match, and a carrier it did not choose
ROWS = {
    "south": ({"weight_kg": 2.0, "postcode_area": "M"}, "northpost"),
    "north": ({"weight_kg": 2.0, "postcode_area": "A"}, "southexpress"),
    "freight": ({"weight_kg": 25.0, "postcode_area": "A"}, "southexpress"),
}


def _decisions(row: str, *, made: int, overridden: int) -> None:
    inputs, other_carrier = ROWS[row]
    clerk = Actor.for_user(user_with_perms(username="clerk"))
    order = start_order()
    for number in range(made):
        decide(rule_set=ORDER_CARRIER, inputs=inputs, instance=order)
        if number < overridden:
            record_override(
                instance=order,
                rule_set=ORDER_CARRIER,
                chosen={"carrier": other_carrier},
                reason=f"customer {number} asked",
                actor=clerk,
            )


@pytest.fixture
def carrier_overrides(db):
    with time_machine.travel(W47, tick=False):
        _decisions("south", made=4, overridden=2)  # 50% of 4: past both thresholds
        _decisions("north", made=10, overridden=3)  # exactly 30%: not over the rate
        _decisions("freight", made=3, overridden=3)  # 100%, but of too few decisions


def test_a_rule_is_flagged_only_past_both_the_rate_and_the_decision_count(
    carrier_overrides, settings
):
    settings.OPSCORE_RULE_EATEN_OVERRIDE_RATE = 0.3
    settings.OPSCORE_RULE_EATEN_MIN_DECISIONS = 4

    eaten = rules_eaten_by_exceptions(WINDOW)
    flags = {p.signature: p.flag for p in recurring_patterns(WINDOW) if p.kind == "override"}

    assert [(row.rule_id, row.decisions, row.overrides) for row in eaten] == [("south", 4, 2)]
    assert flags == {
        "order-carrier row south": "ate the rule: 2/4 decisions overridden",
        "order-carrier row north": "",
        "order-carrier row freight": "",
    }
    assert [row.rule_id for row in rules_eaten_by_exceptions(WINDOW, min_decisions=3)] == [
        "freight",
        "south",
    ]
    assert rules_eaten_by_exceptions(WINDOW, rate=0.29, min_decisions=10)[0].rule_id == "north"


def test_by_default_twenty_decisions_are_needed_before_a_rule_is_flagged(carrier_overrides):
    assert rules_eaten_by_exceptions(WINDOW) == []


def test_patterns_is_a_report_with_a_column_per_week(carrier_overrides):
    out = io.StringIO()
    call_command(
        "report", "patterns", "--since", "2026-11-02", "--until", "2026-11-18",
        "--format", "json", stdout=out,
    )  # fmt: skip
    report = json.loads(out.getvalue())

    assert report["columns"][:5] == ["kind", "signature", "2026-W45", "2026-W46", "2026-W47"]
    south = next(r for r in report["rows"] if r["signature"] == "order-carrier row south")
    assert (south["2026-W47"], south["total"], south["trend"]) == (2, 2, "new")
