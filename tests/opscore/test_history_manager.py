"""Saving a tracked model reuses one history manager class and still records its history."""

from __future__ import annotations

import pytest

from opscore.actors import SYSTEM
from tests.factories import start_order
from workflows import engine, registry

pytestmark = pytest.mark.django_db


def test_history_manager_class_is_built_once_and_history_is_still_recorded():
    order_model = registry.get("order").model
    order = start_order(correlation_key="SO-HIST")
    first = type(order.history)
    moved = engine.transition(instance=order, name="clear_policy", actor=SYSTEM)
    assert type(moved.history) is first
    assert type(order_model.history) is first
    states = moved.history.order_by("history_id").values_list("state", flat=True)
    assert list(states) == ["received", "dispatching"]
    assert order_model.history.filter(correlation_key="SO-HIST").count() == 2
