from io import StringIO

import pytest
from django.core.management import CommandError, call_command

ORDER_DIAGRAM = """\
stateDiagram-v2
    [*] --> received
    received : Received
    in_review : In manual review
    dispatching : Dispatching
    awaiting_pod : Awaiting proof of delivery
    completed : Completed
    cancelled : Cancelled
    failed : Failed
    received --> in_review : flag_for_review
    received --> dispatching : clear_policy
    received --> cancelled : cancel
    in_review --> dispatching : approve
    in_review --> cancelled : cancel
    in_review --> cancelled : reject
    dispatching --> awaiting_pod : mark_dispatched
    dispatching --> cancelled : cancel
    dispatching --> failed : abandon
    awaiting_pod --> completed : confirm_delivery
    awaiting_pod --> cancelled : cancel
    awaiting_pod --> failed : expire_delivery
    completed --> [*]
    cancelled --> [*]
    failed --> [*]
"""


def test_graph_workflow_prints_the_order_state_diagram_in_mermaid():
    out = StringIO()
    call_command("graph_workflow", "order", stdout=out)
    assert out.getvalue() == ORDER_DIAGRAM


def test_graph_workflow_names_the_known_workflows_for_an_unknown_one():
    with pytest.raises(CommandError, match=r"no workflow named 'shipment' \(known: .*order"):
        call_command("graph_workflow", "shipment", stdout=StringIO())
