"""What the decision layer refuses, each kind named so a caller (a step, the API) can react.

Every kind is permanent: evaluating the same rules on the same inputs again gives the same
refusal, so a decision step that hits one goes straight to the dead letter.
"""

from opscore.errors import PermanentError


class DecisionError(PermanentError):
    """Base for decision-layer refusals; the message is fit to show to an operator."""


class MalformedRuleSet(DecisionError):
    """The table does not compile, or it would mis-evaluate silently (a malformed cell)."""


class UnknownRuleSet(DecisionError):
    pass


class NoPublishedVersion(DecisionError):
    pass


class MissingInput(DecisionError):
    pass


class InvalidInput(DecisionError):
    """An input of the wrong type: zen would quietly skip rows instead of failing."""


class NoRuleMatched(DecisionError):
    pass


class EvaluationFailed(DecisionError):
    """The engine ran but could not compute an output (a runtime error in an expression)."""


class LifecycleError(DecisionError):
    """A lifecycle step not allowed from the version's status, or not by this person."""
