import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from opscore.actors import Actor
from processes.orders.models import Order
from tests.factories import start_order
from tests.workflows.drain import drain_executions
from workflows import services
from workflows.projections import rebuild_instances
from workflows.registry import get

pytestmark = pytest.mark.django_db


def test_instances_rebuild_from_the_log_alone(carrier, capsys):
    delivered = start_order()
    waiting = start_order(value=9000)
    drain_executions()
    services.signal_workflow(
        workflow="order",
        correlation_key=delivered.correlation_key,
        transition="confirm_delivery",
        actor=Actor.for_integration("carrier"),
        data={"signed_by": "A. N. Other"},
    )

    rebuilt = rebuild_instances(definition=get("order"))
    for order in Order.objects.all():
        assert rebuilt[order.pk].state == order.state
        assert rebuilt[order.pk].version == order.version
        assert rebuilt[order.pk].context == order.context
    assert rebuilt[delivered.pk].state == "completed"
    assert rebuilt[waiting.pk].state == "in_review"
    call_command("rebuild_projections")
    assert "projections match the log" in capsys.readouterr().out


def test_a_table_changed_behind_the_engine_is_reported(carrier, capsys):
    order = start_order()
    drain_executions()
    # A write that bypassed the engine: the log no longer explains the table.
    Order.objects.filter(pk=order.pk).update(state="completed")
    with pytest.raises(CommandError, match="1 difference"):
        call_command("rebuild_projections")
    assert "state is 'completed' in the table, 'awaiting_pod' from the log" in (
        capsys.readouterr().out
    )


def test_check_projections_compares_and_the_old_name_still_runs_it_with_a_warning(carrier, capsys):
    start_order()
    drain_executions()
    call_command("check_projections")
    assert "projections match the log" in capsys.readouterr().out

    call_command("rebuild_projections")
    captured = capsys.readouterr()
    assert "projections match the log" in captured.out
    assert "rebuild_projections is deprecated" in captured.err
    assert "check_projections" in captured.err


def test_every_difference_is_counted_though_only_the_first_are_kept(carrier, settings, capsys):
    from workflows import projections

    orders = [start_order(value=9000) for _ in range(5)]
    drain_executions()
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(state="completed", version=99)
    settings_kept = projections.DIFFERENCES_KEPT
    projections.DIFFERENCES_KEPT = 3
    try:
        report = projections.compare_with_tables(definition=get("order"))
    finally:
        projections.DIFFERENCES_KEPT = settings_kept
    assert report.differences == 10  # state and version of each of the 5
    assert len(report.mismatches) == 3
    assert not report.consistent
    with pytest.raises(CommandError, match="10 difference"):
        call_command("check_projections", "--workflow", "order", "--limit", "2")
    out = capsys.readouterr().out
    assert "order: rebuilt 5 instance(s) from the log" in out
    assert out.count(" in the table, ") == 2


def test_an_instance_missing_from_either_side_is_reported(carrier):
    from workflows.projections import compare_with_tables

    kept = start_order(value=9000)
    gone = start_order(value=9000)
    drain_executions()
    # Only possible behind the engine's back: the row is deleted, the log keeps its events.
    Order.objects.filter(pk=gone.pk).delete()

    report = compare_with_tables(definition=get("order"))
    assert report.mismatches == [f"order #{gone.pk}: in the log, not in the table"]
    assert report.rebuilt == 2
    assert kept.pk < gone.pk
