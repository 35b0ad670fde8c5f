"""An instance page says where the instance is in its process (the diagram, its state and the
path it took highlighted), links to its review task for whoever works it, and shows no link
its viewer could not open."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from approvals import selectors
from approvals.services import approve_task
from opscore.actors import Actor
from tests.factories import order_in_review, reviewer, user_with_perms
from workflows.diagram_svg import state_diagram_svg
from workflows.registry import get as workflow
from workflows.selectors import path_taken

pytestmark = pytest.mark.django_db


def _page(client, order) -> str:
    response = client.get(reverse("admin:processes_order_change", args=[order.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _links_open(client, page: str) -> None:
    links = set(re.findall(r'href="(/admin/[^"#]*)"', page)) - {"/admin/logout/"}
    assert links
    for link in links:
        assert client.get(link).status_code in (200, 302), link


def test_the_diagram_highlights_the_current_state_and_the_path_taken(client):
    order = order_in_review()
    rita = reviewer("rita", perms=("processes.view_order",))
    approve_task(task=selectors.active_task_for(instance=order), actor=Actor.for_user(rita))
    order.refresh_from_db()
    assert path_taken(instance=order) == [
        ("received", "in_review", "flag_for_review"),
        ("in_review", "dispatching", "approve"),
    ]
    client.force_login(rita)
    page = _page(client, order)
    assert '<g class="state current" data-state="dispatching">' in page
    assert '<g class="state visited" data-state="in_review">' in page
    assert '<g class="state visited" data-state="received">' in page
    assert '<g class="state" data-state="completed">' in page
    assert '<g class="edge taken" data-transition="approve">' in page
    assert '<g class="edge" data-transition="reject">' in page
    assert "Now in <strong>Dispatching</strong>" in page


def test_the_system_map_diagram_still_counts_instead_of_highlighting():
    svg = state_diagram_svg(workflow("order"), counts={"in_review": 3})
    assert '<g class="state" data-state="in_review" data-count="3">' in svg
    assert "3 now" in svg
    assert "current" not in svg


def test_a_reviewer_follows_the_instance_to_its_open_task_and_every_link_opens(client):
    order = order_in_review()
    task = selectors.active_task_for(instance=order)
    rita = reviewer("rita", perms=("processes.view_order",))  # no executions, users, decisions
    client.force_login(rita)
    page = _page(client, order)
    task_url = reverse("admin:approvals_reviewtask_change", args=[task.pk])
    assert f'<a href="{task_url}">manual.review task: open, due ' in page
    assert f"order:{order.pk}:policy.check:v0" in page  # the execution, named
    assert "/admin/workflows/execution/" not in page
    assert "/admin/auth/" not in page
    _links_open(client, page)


def test_view_only_staff_see_the_task_named_but_not_linked(client):
    order = order_in_review()
    viewer = user_with_perms("processes.view_order", username="vic")
    client.force_login(viewer)
    page = _page(client, order)
    assert "manual.review task: open, due " in page
    assert "/admin/approvals/" not in page
    _links_open(client, page)


def test_a_supervisor_with_executions_follows_them(client):
    order = order_in_review()
    sue = user_with_perms(
        "processes.view_order", "workflows.view_execution", username="sue", group="supervisors"
    )
    client.force_login(sue)
    page = _page(client, order)
    assert "/admin/workflows/execution/" in page
    _links_open(client, page)
