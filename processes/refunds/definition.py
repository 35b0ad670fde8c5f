"""The refund workflow: eligibility by rule set, approval above a threshold, payment, notice."""

from datetime import timedelta
from typing import Any

from approvals.hooks import REVIEW_TASK
from processes.refunds import steps
from processes.refunds.models import Refund, RefundState
from processes.refunds.rules import REFUND_ELIGIBILITY
from workflows import registry
from workflows.declaration import Edge, HumanStep, MachineStep, WorkflowDefinition, cancelled


class RefundWorkflow(WorkflowDefinition):
    """Customer refund: eligibility, approval above a threshold, payment, the customer told."""

    name = "refund"
    version = 1
    model = Refund
    initial = RefundState.REQUESTED
    terminal = (
        RefundState.COMPLETED,
        RefundState.REJECTED,
        RefundState.CANCELLED,
        RefundState.FAILED,
    )
    starts_on = ("refund.requested",)

    eligibility = MachineStep(
        "refund.eligibility",
        state=RefundState.REQUESTED,
        executor=steps.decide_eligibility,
        context_update=steps.record_eligibility,
        max_attempts=3,
        rule_sets=(REFUND_ELIGIBILITY,),
    )
    auto_approve = eligibility.outcome(to=RefundState.PAYING)
    request_approval = eligibility.outcome(to=RefundState.AWAITING_APPROVAL)
    reject_ineligible = eligibility.outcome(to=RefundState.REJECTED)

    @eligibility.routes
    def after_eligibility(self, result: dict[str, Any]) -> Edge:
        if not result["eligible"]:
            return self.reject_ineligible
        if result["approval_required"]:
            return self.request_approval
        return self.auto_approve

    approval = HumanStep(
        "refund.approval",
        state=RefundState.AWAITING_APPROVAL,
        queue="refund-approvers",
        sla=timedelta(hours=4),
        hooks=REVIEW_TASK,
    )
    approve = approval.approved(to=RefundState.PAYING, permission="processes.approve_refund")
    reject = approval.rejected(to=RefundState.REJECTED, permission="processes.approve_refund")

    payment = MachineStep(
        "refund.payment",
        state=RefundState.PAYING,
        executor=steps.pay,
        context_update=steps.record_payment,
        max_attempts=6,
        connectors=(("http", "OPSCORE_PAYMENTS_URL"),),
    )
    mark_paid = payment.outcome(to=RefundState.NOTIFYING)
    abandon_payment = payment.abandoned(to=RefundState.FAILED, permission="processes.cancel_refund")

    notice = MachineStep(
        "refund.notice",
        state=RefundState.NOTIFYING,
        executor=steps.notify_customer,
        context_update=steps.record_notice,
        max_attempts=6,
    )
    mark_notified = notice.outcome(to=RefundState.COMPLETED)
    abandon_notice = notice.abandoned(to=RefundState.FAILED, permission="processes.cancel_refund")

    # Only before money moves: a refund being paid is finished or abandoned.
    cancel = cancelled(
        to=RefundState.CANCELLED,
        permission="processes.cancel_refund",
        sources=(RefundState.REQUESTED, RefundState.AWAITING_APPROVAL),
    )


REFUND = registry.register(RefundWorkflow())
