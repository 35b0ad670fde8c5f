"""Review-task use cases: open, claim, release, reassign, approve, reject, request information,
and the sweeper that reminds, escalates and expires.

Every change to a task is recorded in the event log through the engine, in the transaction
that makes it; approving or rejecting drives the workflow with `engine.transition` in that
same transaction, so a task is never decided without its instance moving on (or the reverse).
One module per family: `opening`, `review_tasks`, `information_requests`, `four_eyes`, `sweeper`,
`notification_delivery`.
"""

from approvals.services.errors import (
    CannotReview,
    NotInQueue,
    ReasonRequired,
    SelfApprovalRefused,
    TaskConflict,
    TaskError,
)
from approvals.services.information_requests import (
    AlreadyAnswered,
    InformationLinkRefused,
    LinkExpired,
    LinkInvalid,
    NobodyToAsk,
    RequestClosed,
    answer_information_request,
    open_information_request,
    request_information,
)
from approvals.services.notification_delivery import MAX_SEND_ATTEMPTS, deliver_notifications
from approvals.services.opening import close_tasks_on_exit, open_task
from approvals.services.review_tasks import (
    approve_review,
    approve_task,
    claim_task,
    reassign_task,
    reject_review,
    reject_task,
    release_task,
)
from approvals.services.sweeper import DeadlineSweepReport, sweep_review_deadlines

__all__ = [
    "MAX_SEND_ATTEMPTS",
    "AlreadyAnswered",
    "CannotReview",
    "DeadlineSweepReport",
    "InformationLinkRefused",
    "LinkExpired",
    "LinkInvalid",
    "NobodyToAsk",
    "NotInQueue",
    "ReasonRequired",
    "RequestClosed",
    "SelfApprovalRefused",
    "TaskConflict",
    "TaskError",
    "answer_information_request",
    "approve_review",
    "approve_task",
    "claim_task",
    "close_tasks_on_exit",
    "deliver_notifications",
    "open_information_request",
    "open_task",
    "reassign_task",
    "reject_review",
    "reject_task",
    "release_task",
    "request_information",
    "sweep_review_deadlines",
]
