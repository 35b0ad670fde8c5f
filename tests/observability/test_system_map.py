"""The system map: generated from the definitions and configuration, it flags every part no
alert covers and every person without escalation; --strict turns that into an exit code."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from approvals.models import EscalationPolicy
from observability.models import AlertKind, AlertRule
from observability.system_map import system_map
from tests.factories import UserFactory, start_order, user_with_perms

pytestmark = pytest.mark.django_db


def _rule(kind: str, **scope) -> AlertRule:
    return AlertRule.objects.create(name=f"{kind} {sorted(scope.items())}", kind=kind, **scope)


@pytest.fixture
def covered():
    """Every part of the reference workflows watched, and every queue staffed."""
    rules = {
        kind: _rule(kind)
        for kind in (
            AlertKind.DEAD_LETTERS,
            AlertKind.SLA_BREACH_RATE,
            AlertKind.REJECTION_SPIKE,
            AlertKind.CLUSTER_SILENT,
            AlertKind.SWEEPER_STALE,
            AlertKind.AUDIT_VERIFY_FAILED,
        )
    }
    rules[AlertKind.STUCK_INSTANCES] = _rule(
        AlertKind.STUCK_INSTANCES, window=timedelta(minutes=30)
    )
    for queue in ("reviewers", "managers", "finance", "refund-approvers"):
        UserFactory().groups.add(Group.objects.get_or_create(name=queue)[0])
    return rules


def _strict(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("system_map", "--strict", *args, stdout=out, stderr=StringIO())
    except SystemExit as exit:
        return exit.code, out.getvalue()
    return 0, out.getvalue()


def _flags(workflow: str) -> dict[tuple[str, str], str]:
    (mapped,) = system_map(workflow=workflow)
    return {(line, item.subject): item.flag for line, item in mapped.flags}


def test_a_fully_covered_configuration_passes_strict(covered):
    assert _flags("order") == {}
    assert _flags("invoice") == {}
    assert _flags("refund") == {}
    code, out = _strict()
    assert code == 0
    assert "0 flagged" in out
    assert "dead_letters" in out


def test_an_unalerted_step_and_a_queue_without_escalation_are_flagged(covered):
    # Dead letters and stuck instances watched for invoices only: order's machine and wait
    # steps have nobody; and nobody is escalated to when an order review runs late.
    for kind in (AlertKind.DEAD_LETTERS, AlertKind.STUCK_INSTANCES):
        covered[kind].workflow = "invoice"
        covered[kind].save()
    EscalationPolicy.objects.filter(workflow="order", step="manual.review").delete()

    flags = _flags("order")

    assert set(flags) == {
        ("decide", "manual.review"),
        ("watch", "policy.check"),
        ("watch", "dispatch.execute"),
        ("watch", "pod.capture"),
    }
    assert "without escalation" in flags[("decide", "manual.review")]
    assert flags[("watch", "dispatch.execute")].startswith("nobody")
    assert _flags("invoice") == {}
    code, out = _strict("--workflow", "order")
    assert code == 1
    assert "FLAG: nobody: no enabled alert rule covers this machine step" in out
    assert _strict("--workflow", "invoice")[0] == 0


def test_a_disabled_rule_or_one_for_another_queue_covers_nothing(covered):
    covered[AlertKind.SLA_BREACH_RATE].queue = Group.objects.get(name="finance")
    covered[AlertKind.SLA_BREACH_RATE].save()
    covered[AlertKind.CLUSTER_SILENT].enabled = False
    covered[AlertKind.CLUSTER_SILENT].save()

    assert set(_flags("order")) == {("watch", "manual.review"), ("watch", "workers")}
    assert set(_flags("invoice")) == {("watch", "manager.approval"), ("watch", "workers")}


def test_a_binding_without_schema_and_an_unpublished_rule_set_are_flagged(covered):
    from decisions.models import RuleSetVersion
    from integrations.models import EventType

    EventType.objects.filter(name="order.received").update(schema={})
    RuleSetVersion.objects.filter(rule_set__slug="order-carrier").update(status="retired")

    flags = _flags("order")

    assert "no schema" in flags[("trigger", "binding order.received")]
    assert "no published version" in flags[("decide", "dispatch.execute")]


def test_markdown_and_json_formats(covered):
    EscalationPolicy.objects.filter(workflow="invoice", step="finance.approval").delete()
    out = StringIO()
    call_command("system_map", "--format", "markdown", stdout=out)
    markdown = out.getvalue()
    assert "## order" in markdown
    assert "## invoice" in markdown
    assert "| What triggers it | binding order.received |" in markdown
    assert "**a person without escalation" in markdown
    assert "```mermaid\nstateDiagram-v2\n    [*] --> received" in markdown
    assert "    in_review --> dispatching : approve" in markdown

    out = StringIO()
    call_command("system_map", "--format", "json", "--workflow", "invoice", stdout=out)
    (invoice,) = json.loads(out.getvalue())
    assert invoice["flagged"] == 1
    assert [item["subject"] for item in invoice["lines"]["decide"]] == [
        "approval.tier",
        "manager.approval",
        "finance.approval",
    ]


def test_the_admin_pages_show_the_map_and_live_counts_to_alert_readers(client, covered):
    start_order()
    start_order()
    operator = user_with_perms("observability.view_alertrule")
    client.force_login(operator)

    page = client.get(reverse("observability_system_map"))
    assert page.status_code == 200
    assert b"How you would know it is failing" in page.content

    page = client.get(reverse("observability_system_map_workflow", args=["order"]))
    assert page.status_code == 200
    html = page.content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="state-diagram"' in html
    # Both orders wait in `received` (no worker ran policy.check): one grouped count.
    assert 'data-state="received" data-count="2"' in html
    assert 'data-state="completed" data-count="0"' in html
    assert 'data-transition="flag_for_review"' in html
    assert "<script" not in html.split('id="content-main"')[1]

    assert (
        client.get(reverse("observability_system_map_workflow", args=["nope"])).status_code == 404
    )


def test_staff_who_may_not_read_alert_rules_are_refused(client):
    client.force_login(user_with_perms("processes.view_order"))
    assert client.get(reverse("observability_system_map")).status_code == 403
    assert (
        client.get(reverse("observability_system_map_workflow", args=["order"])).status_code == 403
    )


def test_an_unknown_workflow_is_a_command_error():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="no workflow named 'nope'"):
        call_command("system_map", "--workflow", "nope", stdout=StringIO())
