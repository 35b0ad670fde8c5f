"""Every kind of broken declaration fails `manage.py check` with a named error; the real
declarations pass, with and without the database checks."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from approvals.hooks import REVIEW_TASK
from approvals.models import EscalationPolicy
from integrations.models import BindingAction, EventType, TriggerBinding
from tests.workflows.parcel import Parcel, ParcelState
from workflows import registry
from workflows.declaration import (
    Edge,
    HumanStep,
    MachineStep,
    UndeclaredEdge,
    WaitStep,
    WorkflowDefinition,
    cancelled,
)

S = ParcelState

# Other apps' start-up checks read their tables.
pytestmark = pytest.mark.django_db


def _inspect(call) -> dict[str, Any]:
    return {"checked": True}


@pytest.fixture
def declare():
    """Register declarations for the test's length; their generated transitions go with them."""
    names = []

    def register(declaration: type[WorkflowDefinition]) -> WorkflowDefinition:
        names.append(declaration.name)
        return registry.register(declaration())

    yield register
    for name in names:
        registry.unregister(name)


def check_fails_with(error_id: str, *fragments: str, databases: bool = False) -> str:
    """Run `manage.py check`; it must fail, naming `error_id` with every fragment on its line."""
    with pytest.raises(SystemCheckError) as failed:
        call_command("check", **({"databases": ["default"]} if databases else {}))
    lines = [line for line in str(failed.value).splitlines() if f"({error_id})" in line]
    assert lines, f"{error_id} not reported:\n{failed.value}"
    assert any(all(fragment in line for fragment in fragments) for line in lines), lines
    return "\n".join(lines)


def parcel_workflow(**attributes: Any) -> type[WorkflowDefinition]:
    """A sound declaration of the parcel workflow, fresh each call; `attributes` replace its
    class attributes (name, initial, terminal, starts_on)."""

    class ParcelWorkflow(WorkflowDefinition):
        name = "parcel"
        model = Parcel
        initial = S.WAITING
        terminal = (S.SENT, S.LOST)
        starts_on = ("parcel.posted",)

        inspect = MachineStep("inspect", state=S.WAITING, executor=_inspect)
        to_check = inspect.outcome(to=S.CHECKING)

        check = HumanStep(
            "check",
            state=S.CHECKING,
            queue="parcel-checkers",
            sla=timedelta(hours=1),
            hooks=REVIEW_TASK,
        )
        pass_check = check.approved(to=S.SENT, permission="workflows.check_parcel")
        fail_check = check.rejected(to=S.LOST, permission="workflows.check_parcel")

        cancel = cancelled(to=S.LOST, permission="workflows.check_parcel")

    for key, value in attributes.items():
        setattr(ParcelWorkflow, key, value)
    return ParcelWorkflow


def test_the_real_declarations_pass_the_checks():
    call_command("check")


def test_a_sound_declaration_passes_but_for_the_transition_written_on_its_model(declare):
    declare(parcel_workflow())
    text = check_fails_with("workflows.E005", "workflows.Parcel", "'found_again'")
    assert "workflows.E00" not in text.replace("workflows.E005", "")


def test_an_edge_to_a_state_that_does_not_exist_is_named(declare):
    class Lossy(parcel_workflow(name="lossy")):
        vanish = cancelled(to="vanished", permission="workflows.check_parcel")

    declare(Lossy)
    check_fails_with("workflows.E001", "workflow 'lossy'", "edge 'vanish' to", "'vanished'")


def test_an_open_state_without_a_step_is_named(declare):
    class Stalled(WorkflowDefinition):
        name, model, initial, terminal = "stalled", Parcel, S.WAITING, (S.SENT, S.LOST)
        inspect = MachineStep("inspect", state=S.WAITING, executor=_inspect)
        to_check = inspect.outcome(to=S.CHECKING)

    declare(Stalled)
    check_fails_with("workflows.E002", "workflow 'stalled'", "state 'checking'", "has no step")


def test_two_steps_in_one_state_are_named(declare):
    class Crowded(parcel_workflow(name="crowded")):
        weigh = MachineStep("weigh", state=S.WAITING, executor=_inspect)
        weighed = weigh.outcome(to=S.CHECKING)

    declare(Crowded)
    check_fails_with("workflows.E003", "workflow 'crowded'", "state 'waiting'", "inspect, weigh")


def test_an_edge_named_like_a_model_attribute_is_named_and_not_generated(declare):
    class Clobbering(parcel_workflow(name="clobbering")):
        save = cancelled(to=S.LOST, permission="workflows.check_parcel")

    declare(Clobbering)
    check_fails_with("workflows.E004", "workflow 'clobbering'", "edge 'save' name")
    assert not hasattr(Parcel.save, "_django_fsm")


def test_an_edge_not_assigned_a_name_is_named(declare):
    class Forgetful(parcel_workflow(name="forgetful")):
        weigh = MachineStep("weigh", state=S.CHECKING, executor=_inspect)
        weigh.outcome(to=S.SENT)

    declare(Forgetful)
    check_fails_with("workflows.E006", "workflow 'forgetful'", "step 'weigh' edge to 'sent'")


def test_a_router_returning_another_steps_edge_is_named_and_refused_at_run_time(declare):
    class Misrouted(WorkflowDefinition):
        name, model, initial, terminal = "misrouted", Parcel, S.WAITING, (S.SENT, S.LOST)

        inspect = MachineStep("inspect", state=S.WAITING, executor=_inspect)
        to_check = inspect.outcome(to=S.CHECKING)
        straight_out = inspect.outcome(to=S.SENT)

        @inspect.routes
        def after_inspect(self, result: dict[str, Any]) -> Edge:
            return self.to_check if result["checked"] else self.fail_check

        check = HumanStep(
            "check",
            state=S.CHECKING,
            queue="parcel-checkers",
            sla=timedelta(hours=1),
            hooks=REVIEW_TASK,
        )
        pass_check = check.approved(to=S.SENT, permission="workflows.check_parcel")
        fail_check = check.rejected(to=S.LOST, permission="workflows.check_parcel")

    declared = declare(Misrouted)
    check_fails_with(
        "workflows.E007",
        "workflow 'misrouted'",
        "step 'inspect' routes",
        "'fail_check'",
        "to_check",
    )
    with pytest.raises(
        UndeclaredEdge, match=r"step 'inspect': after_inspect returned <Edge fail_c"
    ):
        declared.step_named("inspect").outcome_for({"checked": False})


def test_several_outcomes_without_a_router_are_named(declare):
    class Undecided(WorkflowDefinition):
        name, model, initial = "undecided", Parcel, S.WAITING
        terminal = (S.CHECKING, S.SENT, S.LOST)
        inspect = MachineStep("inspect", state=S.WAITING, executor=_inspect)
        to_sent = inspect.outcome(to=S.SENT)
        to_lost = inspect.outcome(to=S.LOST)

    declare(Undecided)
    check_fails_with("workflows.E007", "workflow 'undecided'", "step 'inspect' routes", "no router")


def test_an_initial_state_other_than_the_models_is_named(declare):
    declare(parcel_workflow(name="late-start", initial=S.CHECKING))
    check_fails_with("workflows.E008", "workflow 'late-start' initial", "'waiting'")


def test_a_human_step_without_hooks_or_queue_is_named(declare):
    class Unhooked(WorkflowDefinition):
        name, model, initial, terminal = "unhooked", Parcel, S.WAITING, (S.SENT, S.LOST)
        inspect = MachineStep("inspect", state=S.WAITING, executor=_inspect)
        to_check = inspect.outcome(to=S.CHECKING)
        check = HumanStep("check", state=S.CHECKING, queue="", sla=timedelta(hours=1))
        pass_check = check.approved(to=S.SENT, permission="workflows.check_parcel")
        fail_check = check.rejected(to=S.LOST, permission="workflows.check_parcel")

    declare(Unhooked)
    check_fails_with("workflows.E009", "workflow 'unhooked'", "step 'check' hooks")
    check_fails_with("workflows.E009", "workflow 'unhooked'", "step 'check' queue")


def test_a_permission_the_model_does_not_have_is_named(declare):
    class Misspelt(parcel_workflow(name="misspelt")):
        cancel = cancelled(to=S.LOST, permission="workflows.chekc_parcel")

    declare(Misspelt)
    check_fails_with(
        "workflows.E010",
        "workflow 'misspelt'",
        "edge 'cancel' permission",
        "'workflows.chekc_parcel'",
    )


def test_an_event_type_that_both_starts_and_signals_is_named(declare):
    class Echo(WorkflowDefinition):
        name, model, initial, terminal = "echo", Parcel, S.WAITING, (S.SENT, S.LOST)
        starts_on = ("parcel.posted",)
        inspect = MachineStep("inspect", state=S.WAITING, executor=_inspect)
        to_check = inspect.outcome(to=S.CHECKING)
        arrival = WaitStep("arrival", state=S.CHECKING, timeout=lambda: timedelta(days=1))
        arrive = arrival.signalled(by="parcel.posted", to=S.SENT)
        give_up = arrival.timed_out(to=S.LOST)

    declare(Echo)
    check_fails_with(
        "workflows.E011", "workflow 'echo'", "edge 'arrive' by", "'parcel.posted' already starts it"
    )


def test_a_connector_without_its_setting_is_named(declare):
    class Unplugged(WorkflowDefinition):
        name, model, initial, terminal = "unplugged", Parcel, S.WAITING, (S.SENT, S.LOST)
        inspect = MachineStep(
            "inspect",
            state=S.WAITING,
            executor=_inspect,
            connectors=(("http", "OPSCORE_PARCEL_URL"),),
        )
        to_check = inspect.outcome(to=S.SENT)

    declare(Unplugged)
    check_fails_with(
        "workflows.E012", "workflow 'unplugged'", "step 'inspect' connectors", "OPSCORE_PARCEL_URL"
    )


# --- the database checks (manage.py check --database default) ----------------------------------

REAL_GROUP_PERMISSIONS = {
    "reviewers": ["processes.review_order", "approvals.work_reviewtask"],
    "managers": ["processes.approve_invoice", "approvals.work_reviewtask"],
    "finance": ["processes.finance_approve_invoice", "approvals.work_reviewtask"],
    "refund-approvers": ["processes.approve_refund", "approvals.work_reviewtask"],
    "supervisors": [
        "processes.review_order",
        "processes.approve_invoice",
        "processes.finance_approve_invoice",
        "processes.approve_refund",
        "approvals.work_reviewtask",
    ],
}


def _grant(group: str, *permissions: str) -> Group:
    found, _ = Group.objects.get_or_create(name=group)
    for permission in permissions:
        app_label, codename = permission.split(".")
        found.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return found


@pytest.fixture
def operated(db):
    """The groups as operators configure them: each queue and escalation group may decide."""
    for group, permissions in REAL_GROUP_PERMISSIONS.items():
        _grant(group, *permissions)


def test_the_real_declarations_pass_the_database_checks(operated):
    call_command("check", databases=["default"])


def test_a_queue_group_that_does_not_exist_is_named(operated, declare):
    declare(parcel_workflow(starts_on=()))
    check_fails_with(
        "workflows.E020",
        "workflow 'parcel' step 'check' queue",
        "'parcel-checkers' does not exist",
        databases=True,
    )


def test_a_queue_group_without_the_deciding_permission_is_named(operated, declare):
    _grant("parcel-checkers", "approvals.work_reviewtask")
    declare(parcel_workflow(starts_on=()))
    check_fails_with(
        "workflows.E021",
        "step 'check' queue",
        "'parcel-checkers' lacks workflows.check_parcel",
        databases=True,
    )


def test_migrate_runs_while_the_queue_groups_lack_their_permissions():
    """Migrations create the queue groups empty: a release's `migrate` (whose migration may be
    what grants them) must still run; `check --database` names what they lack."""
    assert not Group.objects.get(name="reviewers").permissions.exists()

    call_command("migrate", verbosity=0, skip_checks=False, stdout=StringIO())

    check_fails_with(
        "workflows.E021",
        "workflow 'order' step 'manual.review' queue",
        "'reviewers' lacks approvals.work_reviewtask, processes.review_order",
        databases=True,
    )


def test_a_human_step_without_escalation_policy_is_named(operated, declare):
    EscalationPolicy.objects.filter(workflow="order", step="manual.review").delete()
    check_fails_with(
        "workflows.E022",
        "workflow 'order' step 'manual.review' escalation",
        "no escalation policy",
        databases=True,
    )


def test_an_escalation_group_that_cannot_decide_is_named(operated):
    Group.objects.get(name="supervisors").permissions.clear()
    check_fails_with(
        "workflows.E021",
        "workflow 'invoice' step 'finance.approval' escalation",
        "'supervisors' lacks approvals.work_reviewtask, processes.finance_approve_invoice",
        databases=True,
    )


def test_a_rule_set_that_does_not_exist_is_named(operated, declare):
    class Unruled(WorkflowDefinition):
        name, model, initial, terminal = "unruled", Parcel, S.WAITING, (S.CHECKING, S.SENT, S.LOST)
        route = MachineStep(
            "route", state=S.WAITING, executor=_inspect, rule_sets=("parcel-routing",)
        )
        routed = route.outcome(to=S.SENT)

    declare(Unruled)
    check_fails_with(
        "workflows.E023",
        "workflow 'unruled' step 'route' rule_sets",
        "'parcel-routing' does not exist",
        databases=True,
    )


def test_a_declared_signal_without_binding_is_named(operated):
    TriggerBinding.objects.filter(event_type__name="shipment.delivered").delete()
    check_fails_with(
        "workflows.E024",
        "workflow 'order' edge 'confirm_delivery' by",
        "'shipment.delivered' has no signal binding",
        databases=True,
    )


def test_a_stored_binding_to_an_undeclared_signal_is_named(operated):
    stray = EventType.objects.create(name="parcel.scanned", description="", schema={})
    TriggerBinding.objects.bulk_create(  # written around the model's clean(), as old rows were
        [
            TriggerBinding(
                event_type=stray,
                action=BindingAction.SIGNAL,
                workflow="order",
                transition="expire_delivery",
            )
        ]
    )
    check_fails_with(
        "workflows.E024",
        "workflow 'order' trigger binding",
        "'parcel.scanned' is bound to signal expire_delivery",
        databases=True,
    )
