import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from opscore.actors import Actor
from tests.factories import start_order
from tests.workflows.drain import drain_executions
from workflows import services
from workflows.models import Order
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
