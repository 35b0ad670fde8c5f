"""What a person must hold for each rule-set use case; the system (seeding, commands run as no
one) needs none."""

from __future__ import annotations

from decisions.errors import LifecycleError
from opscore.actors import Actor

PUBLISH_PERMISSION = "decisions.publish_ruleset"
AUTHOR_PERMISSION = "decisions.author_ruleset"
SUBMIT_PERMISSION = "decisions.submit_ruleset"
BACKTEST_PERMISSION = "decisions.backtest_ruleset"


def require_any(actor: Actor, *permissions: str, doing: str) -> None:
    """People need one of the permissions; the system (seeding, commands run as no one) does not.
    Checked here, not only in admin, so every edge that calls the service is held to it."""
    if actor.user is not None and not any(actor.user.has_perm(p) for p in permissions):
        raise LifecycleError(f"{actor.ref} lacks the permission to {doing}")
