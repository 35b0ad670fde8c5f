"""Refusals on review tasks; each message is fit to show a reviewer."""

from __future__ import annotations

from workflows import engine


class TaskError(engine.WorkflowError):
    """A refusal on a review task; the message is fit to show a reviewer."""


class TaskConflict(TaskError):
    """Someone else got there first: the task was decided, claimed or closed meanwhile."""


class NotInQueue(TaskError):
    """The person is in none of the groups the task's queue or escalation belongs to."""


class SelfApprovalRefused(TaskError):
    """Four-eyes: the requester may not decide, and one person may not approve two levels."""


class ReasonRequired(TaskError):
    pass


class CannotReview(TaskError):
    """The person lacks the permission the step's decision needs, so may not hold the task."""
