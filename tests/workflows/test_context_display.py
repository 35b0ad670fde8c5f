"""An instance's context reads like a business wrote it: labels, money with its currency,
weights with units, times in the zone, personal data marked; the raw JSON one click away."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from approvals import selectors
from opscore.actors import SYSTEM, Actor
from privacy import sealing
from tests.factories import order_context, reviewer, start_invoice, user_with_perms
from tests.workflows.drain import drain_executions
from workflows import engine, services
from workflows.context_display import (
    MOMENT,
    MONEY,
    WEIGHT,
    Section,
    Shown,
    business_sections,
    money,
    plain_text,
)

pytestmark = pytest.mark.django_db


def _rows(sections) -> dict[str, str]:
    return {row.label: row.value for section in sections for row in section.rows}


def test_declared_fields_are_formatted_and_the_rest_is_still_shown():
    context = {
        "input": {"amount": 18500, "currency": "EUR", "weight": 2.5, "at": "2026-11-29T09:58:19Z"},
        "policy": {"reasons": ["weight above 30 kg", "value at or above 1000"], "ok": False},
    }
    declared = (
        Section(
            "Invoice",
            (
                Shown("input.amount", "Amount", kind=MONEY, currency_path="input.currency"),
                Shown("input.weight", "Weight", kind=WEIGHT, unit="kg"),
                Shown("input.at", "Received", kind=MOMENT),
                Shown("input.missing", "Not there"),
            ),
        ),
    )
    with timezone.override("Europe/Paris"):
        sections = business_sections(context, declared)
    rows = _rows(sections)
    assert rows["Amount"] == "€18,500.00"
    assert rows["Weight"] == "2.5 kg"
    assert rows["Received"] == "2026-11-29 10:58:19 CET"
    assert "Not there" not in rows
    assert [section.title for section in sections] == ["Invoice", "Other"]
    assert rows["Policy reasons"] == "weight above 30 kg; value at or above 1000"
    assert rows["Policy ok"] == "no"
    assert "Input currency" not in rows  # shown with the amount


def test_money_without_a_known_symbol_names_its_currency():
    assert money(1234.5, "SEK") == "1,234.50 SEK"
    assert money("19", "GBP") == "£19.00"
    assert plain_text({"step": "policy.check", "attempt": 2}) == "Step: policy.check; Attempt: 2"


@pytest.fixture
def rita():
    return reviewer("rita", perms=("processes.view_order",))


def _order_in_review(**fields):
    from processes.orders.events import ORDER_RECEIVED_SCHEMA

    payload = sealing.seal_payload(
        schema=ORDER_RECEIVED_SCHEMA,
        payload=order_context(**fields),
        fallback_ref=fields.get("email", "x"),
    )
    order = services.start_workflow(
        workflow="order", payload=payload, actor=Actor.for_user(user_with_perms(username="rick"))
    )
    return engine.transition(instance=order, name="flag_for_review", actor=SYSTEM)


def test_the_task_page_shows_the_order_as_a_business_reads_it(client, rita):
    order = _order_in_review(
        customer="Grace Hopper",
        email="grace@example.invalid",
        address="1 Navy Way\nArlington",
        value=2400,
        weight_kg=4,
    )
    task = selectors.active_task_for(instance=order)
    client.force_login(rita)
    page = client.get(reverse("admin:approvals_teamtask_change", args=[task.pk])).content.decode()
    assert "<dt>Order value</dt>\n    <dd>£2,400.00</dd>" in page
    assert "<dt>Weight</dt>\n    <dd>4 kg</dd>" in page
    assert "1 Navy Way<br>Arlington" in page
    assert 'class="personal">Grace Hopper<span class="personal-mark"' in page
    assert '<details class="raw-json"><summary>Raw JSON</summary>' in page
    assert "{&#x27;" not in page  # no Python dict reprs anywhere on the page
    for sealed in order.context["input"].values():
        if sealing.is_sealed(sealed):
            assert sealed not in page


def test_the_invoice_page_shows_money_in_its_currency_and_the_tier_in_words(client):
    invoice = start_invoice(amount=18_500, currency="EUR")
    drain_executions()
    boss = user_with_perms("processes.view_invoice", username="bo")
    client.force_login(boss)
    page = client.get(reverse("admin:processes_invoice_change", args=[invoice.pk])).content.decode()
    assert "€18,500.00" in page
    assert "a manager, then a finance director" in page
    assert "Approval decision id" not in page


def test_the_order_list_shows_and_sorts_by_its_business_columns(client):
    small = _order_in_review(customer="Ada Lovelace", email="ada@example.invalid", value=45)
    large = _order_in_review(customer="Grace Hopper", email="grace@example.invalid", value=2400)
    client.force_login(user_with_perms("processes.view_order", username="vic"))
    url = reverse("admin:processes_order_changelist")
    page = client.get(url).content.decode()
    for heading in ("Customer", "Order value", "Weight", "Age"):
        assert f">{heading}</a>" in page or f">{heading}</span>" in page, heading
    assert "Grace Hopper" in page
    assert "£2,400.00" in page
    assert "£45.00" in page
    value_column = re.search(r'href="\?o=(\d+)[^"]*">Order value<', page).group(1)
    descending = client.get(url, {"o": f"-{value_column}"}).content.decode()
    assert descending.index(large.correlation_key) < descending.index(small.correlation_key)
    ascending = client.get(url, {"o": f"{value_column}"}).content.decode()
    assert ascending.index(small.correlation_key) < ascending.index(large.correlation_key)
