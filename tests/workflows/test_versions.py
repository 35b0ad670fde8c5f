"""Definitions are versioned like deploys: an instance keeps the version it started under, a
change that strands live instances is refused by the check unless the declaration says how
they move, and the move goes through the engine."""

from __future__ import annotations

import json
import shutil
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from approvals.models import ReviewTask, TaskStatus
from audit.models import Event
from processes.orders.definition import ORDER
from processes.orders.models import Order, OrderState
from tests.factories import order_in_review, start_order
from workflows import versions
from workflows.models import Execution
from workflows.models.execution import ExecutionStatus

pytestmark = pytest.mark.django_db


def check_errors() -> str:
    try:
        call_command("check")
    except SystemCheckError as failed:
        return str(failed)
    return ""


@pytest.fixture
def shapes(tmp_path, monkeypatch):
    """The order workflow's recorded shapes, copied where a test may add versions."""
    real = versions.versions_directory(ORDER)
    copy = tmp_path / "order"
    shutil.copytree(real, copy)
    monkeypatch.setattr(
        versions,
        "versions_directory",
        lambda definition: copy if definition is ORDER else real.parent / definition.name,
    )
    return copy


def test_an_instance_records_the_definition_version_it_started_under():
    order = start_order()

    assert Order.objects.get(pk=order.pk).definition_version == ORDER.version == 1
    started = Event.objects.get(instance_id=order.pk, type="workflow.started")
    assert started.payload["definition_version"] == 1


def test_a_changed_shape_under_the_same_version_is_refused(shapes, monkeypatch):
    monkeypatch.setattr(ORDER.step_named("manual.review"), "name", "manual.check")

    assert "(workflows.E031) workflow 'order' version 1" in check_errors()


def test_a_removed_state_is_refused_until_the_declaration_moves_its_instances(shapes):
    recorded = json.loads((shapes / "v1.json").read_text())
    recorded["version"] = 0
    recorded["states"].insert(1, "weighing")
    recorded["steps"]["weigh.parcel"] = "weighing"
    (shapes / "v0.json").write_text(json.dumps(recorded))
    (shapes / "v1.json").unlink()  # v1 is the declaration under test, compared with v0
    versions.record_shape(ORDER)

    errors = check_errors()
    assert "(workflows.E032) workflow 'order' state 'weighing': v0 had it and v1 removes it" in (
        errors
    )
    assert "(workflows.E032) workflow 'order' step 'weigh.parcel'" in errors


def test_a_renamed_step_is_refused_then_moved_by_its_declared_move(shapes, monkeypatch):
    waiting = order_in_review()
    old_task = ReviewTask.objects.get(instance_id=waiting.pk, step="manual.review")
    dispatched = start_order()
    declaration = type(ORDER)
    monkeypatch.setattr(declaration, "version", 2)
    monkeypatch.setattr(ORDER.step_named("manual.review"), "name", "manual.check")
    versions.record_shape(ORDER)

    refused = check_errors()
    assert "(workflows.E032) workflow 'order' step 'manual.review': v1 had it in state " in refused
    assert "('manual.check' waits there now)" in refused
    assert Order.objects.get(pk=waiting.pk).definition_version == 1

    monkeypatch.setattr(declaration, "moves", {OrderState.IN_REVIEW: OrderState.IN_REVIEW})
    assert "workflows.E03" not in check_errors()

    out = StringIO()
    call_command("move_instances", "order", stdout=out)

    assert "order: moved 1 instance(s) to v2" in out.getvalue()
    moved = Order.objects.get(pk=waiting.pk)
    assert (moved.state, moved.version, moved.definition_version) == (
        OrderState.IN_REVIEW,
        waiting.version + 1,
        2,
    )
    old_task.refresh_from_db()
    assert old_task.status == TaskStatus.CANCELLED
    assert ReviewTask.objects.get(instance_id=waiting.pk, step="manual.check").status == (
        TaskStatus.OPEN
    )
    event = Event.objects.filter(instance_id=waiting.pk, type="workflow.transition").last()
    assert (event.payload["transition"], event.payload["source"], event.payload["target"]) == (
        "move:v2",
        "in_review",
        "in_review",
    )
    # An order elsewhere keeps its state, its version and its scheduled work.
    untouched = Order.objects.get(pk=dispatched.pk)
    assert (untouched.state, untouched.definition_version) == (dispatched.state, 1)
    assert Execution.objects.filter(
        instance_id=dispatched.pk, status=ExecutionStatus.PENDING
    ).exists()

    call_command("move_instances", "order", stdout=StringIO())
    assert Order.objects.get(pk=waiting.pk).version == moved.version  # moved once only


def test_moves_into_a_state_the_version_does_not_have_are_named(shapes, monkeypatch):
    monkeypatch.setattr(type(ORDER), "moves", {"in_review": "teleported"})

    assert "(workflows.E033) workflow 'order' moves: 'in_review' moves to 'teleported'" in (
        check_errors()
    )


def test_live_instances_in_a_state_the_declaration_lost_are_named_by_the_database_check():
    order = start_order()
    Order.objects.filter(pk=order.pk).update(state="weighing")  # as a removed state leaves them

    with pytest.raises(SystemCheckError, match=r"\(workflows.E034\) workflow 'order' state "):
        call_command("check", databases=["default"])


def test_migrate_runs_while_live_instances_sit_in_a_lost_state():
    """A data migration may be what moves them: the check must not refuse it."""
    order = start_order()
    Order.objects.filter(pk=order.pk).update(state="weighing")

    call_command("migrate", verbosity=0, skip_checks=False, stdout=StringIO())

    with pytest.raises(SystemCheckError, match=r"\(workflows.E034\) workflow 'order' state "):
        call_command("check", databases=["default"])
