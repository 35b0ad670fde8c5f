import pytest

from decisions.models import RuleSet
from opscore.actors import Actor
from processes.orders.rules import ORDER_CARRIER, ORDER_POLICY
from tests.factories import user_with_perms


@pytest.fixture
def carrier_rules(db) -> RuleSet:
    return RuleSet.objects.get(slug=ORDER_CARRIER)


@pytest.fixture
def policy_rules(db) -> RuleSet:
    return RuleSet.objects.get(slug=ORDER_POLICY)


@pytest.fixture
def author(db) -> Actor:
    return Actor.for_user(
        user_with_perms(
            "decisions.author_ruleset",
            "decisions.submit_ruleset",
            "decisions.backtest_ruleset",
            "decisions.publish_ruleset",
            username="author",
        )
    )


@pytest.fixture
def publisher(db) -> Actor:
    # Also an author: some tests have the publisher edit a draft to prove that bars publishing.
    return Actor.for_user(
        user_with_perms(
            "decisions.author_ruleset",
            "decisions.backtest_ruleset",
            "decisions.publish_ruleset",
            username="publisher",
        )
    )
