"""Who may work and who may review a human step (approve or reject it): the permissions
approvals enforces.

A step's reviewing permission is not configured twice: it is the permission its approve and
reject transitions declare on the workflow model (django-fsm `permission=`), the same one the
engine checks when the decision moves the instance.
"""

from __future__ import annotations

from workflows import registry
from workflows.declaration import HumanStep

WORK_PERMISSION = "approvals.work_reviewtask"


def _transition_permissions(model, name: str) -> set[str]:
    meta = getattr(getattr(model, name, None), "_django_fsm", None)
    if meta is None:
        return set()
    return {
        transition.permission
        for transition in meta.transitions.values()
        if isinstance(transition.permission, str)
    }


def review_permissions(*, workflow: str, step: str) -> frozenset[str]:
    """Every permission a person needs to review `step` of `workflow`: working tasks, and the
    permissions of the step's approve and reject transitions. (An approve route's alternative,
    like an invoice's manager_approve_for_finance, declares the same permission as its default.)"""
    definition = registry.get(workflow)
    human = definition.step_named(step)
    if not isinstance(human, HumanStep):
        raise KeyError(f"{workflow!r} step {step!r} is not a human step")
    names = {human.approve_transition, human.reject_transition}
    permissions = {WORK_PERMISSION}
    for name in names:
        permissions |= _transition_permissions(definition.model, name)
    return frozenset(permissions)


def may_review(user, *, workflow: str, step: str) -> bool:
    if user.is_superuser:
        return True
    return user.has_perms(review_permissions(workflow=workflow, step=step))


def missing_review_permissions(group, *, workflow: str, step: str) -> set[str]:
    """The reviewing permissions `group` lacks (empty: its members may review)."""
    held = {
        f"{app_label}.{codename}"
        for app_label, codename in group.permissions.values_list(
            "content_type__app_label", "codename"
        )
    }
    return set(review_permissions(workflow=workflow, step=step)) - held
