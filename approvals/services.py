"""Decisions people make on human steps."""

from __future__ import annotations

from opscore.actors import Actor
from workflows import engine, registry
from workflows.models import WorkflowInstance
from workflows.registry import HumanStep


class SelfApprovalRefused(engine.WorkflowError):
    pass


def _human_step(instance: WorkflowInstance) -> HumanStep:
    instance = type(instance).objects.get(pk=instance.pk)
    definition = registry.for_model(type(instance))
    step = definition.step_for_state(instance.state)
    if not isinstance(step, HumanStep):
        raise engine.IllegalTransition(instance, "review")
    return step


def _refuse_self_review(*, instance: WorkflowInstance, actor: Actor) -> None:
    if actor.user is not None and instance.started_by_id == actor.user.pk:
        raise SelfApprovalRefused(
            f"{actor.ref} started {instance} and cannot also review it (four-eyes rule)"
        )


def approve_review(
    *, instance: WorkflowInstance, actor: Actor, comment: str = ""
) -> WorkflowInstance:
    """Approve the human step the instance waits in; the requester can never approve."""
    step = _human_step(instance)
    _refuse_self_review(instance=instance, actor=actor)
    return engine.transition(
        instance=instance,
        name=step.approve_transition,
        actor=actor,
        data={"step": step.name, "comment": comment},
    )


def reject_review(*, instance: WorkflowInstance, actor: Actor, reason: str) -> WorkflowInstance:
    """Reject the human step the instance waits in; a reason is required."""
    if not reason.strip():
        raise engine.WorkflowError("a reason is required to reject")
    step = _human_step(instance)
    _refuse_self_review(instance=instance, actor=actor)
    return engine.transition(
        instance=instance,
        name=step.reject_transition,
        actor=actor,
        data={"step": step.name, "reason": reason},
    )
