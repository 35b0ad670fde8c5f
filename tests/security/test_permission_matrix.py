"""The permission matrix: every admin page, admin action and API endpoint, as every real role.

No superuser anywhere. A role may do something iff it holds the permission that thing needs
(the tables below say which roles those are). An allowed GET answers 200 and names its
object; a refused cell answers 401/403/404 (or a login redirect, or an admin page that did
not apply the action) and changes nothing: instances, the event log, keys, secrets, rule set
versions, review tasks, inbound events, rejections (but the one the refusal records).
"""

from __future__ import annotations

import functools
import itertools
import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.forms.models import model_to_dict
from django.test import RequestFactory
from django.urls import reverse
from django.utils.duration import duration_string
from django.utils.html import escape

from tests.security.conftest import ALL_ROLES, KEY_ROLES, PROJECT_APPS, SESSION_ROLES, World

STAFF_ROLES = tuple(role for role in SESSION_ROLES if role != "anonymous")
NOBODY: frozenset[str] = frozenset()
VIEWONLY = "viewonly"
WORKERS = {"reviewer", "manager", "director", "supervisor"}  # approvals.work_reviewtask
DECISION_READERS = {VIEWONLY, "author", "publisher"}

# --- who may do what in admin, per model (roles that hold the permission) ------------------
# Records that matter (events, inbound events, rejections, executions, review tasks, decision
# records) are added, changed and deleted by no one here: only services write them.
ADMIN_MODELS: dict[str, dict[str, set[str]]] = {
    # Instances and executions are written by the engine and workers alone: their change form
    # reads, even for holders of change_<model>; cancel and retry are actions.
    "processes.order": {"view": {VIEWONLY, "reviewer", "supervisor"}},
    # Supervisors see invoices: the reference invoice policies escalate to them.
    "processes.invoice": {"view": {VIEWONLY, "manager", "director", "supervisor"}},
    # Supervisors see refunds: the reference refund policy escalates to them.
    "processes.refund": {"view": {VIEWONLY, "supervisor"}},
    "workflows.execution": {"view": {VIEWONLY, "supervisor"}},
    "workflows.timer": {"view": {VIEWONLY}},
    # Tasks are seen by those who work review queues, and only in their own queues.
    "approvals.reviewtask": {"view": {"reviewer"}, "list": WORKERS},
    "approvals.escalationpolicy": {"view": {VIEWONLY, "supervisor"}, "change": {"supervisor"}},
    "audit.event": {"view": {VIEWONLY, "supervisor"}},
    "decisions.ruleset": {"view": DECISION_READERS, "add": {"author"}, "change": {"author"}},
    "decisions.rulesetversion": {"view": DECISION_READERS, "change": {"author"}},
    "decisions.decisionrecord": {"view": DECISION_READERS},
    "decisions.backtest": {"view": DECISION_READERS},
    "decisions.override": {"view": DECISION_READERS},
    "integrations.integration": {"view": {VIEWONLY}},
    "integrations.apikey": {"view": {VIEWONLY}},
    "integrations.eventtype": {"view": {VIEWONLY}},
    "integrations.webhooksource": {"view": {VIEWONLY}},
    "integrations.inboundevent": {"view": {VIEWONLY}},
    "integrations.rejection": {"view": {VIEWONLY}},
    "integrations.schedule": {"view": {VIEWONLY}},
}
QUEUE_PROXIES = {"mytask", "teamtask", "unassignedtask", "overduetask", "escalatedtask"}

# Admin actions: (model, action) -> roles allowed. Nobody here may rotate or revoke a key, add a
# webhook secret, re-deliver, or delete in bulk; rule authors draft and submit, publishers
# retire, roll back and return drafts; reviewers work the tasks of their queue.
ADMIN_ACTIONS: dict[tuple[str, str], set[str]] = {
    ("processes.order", "cancel_selected"): {"supervisor"},
    ("processes.invoice", "cancel_selected"): set(),
    ("processes.refund", "cancel_selected"): set(),
    ("workflows.execution", "retry_selected"): {"supervisor"},
    ("approvals.reviewtask", "claim"): {"reviewer"},
    ("approvals.reviewtask", "release"): {"reviewer"},
    ("approvals.reviewtask", "reassign"): {"reviewer"},
    ("approvals.reviewtask", "approve"): {"reviewer"},
    ("approvals.reviewtask", "reject"): {"reviewer"},
    ("approvals.reviewtask", "request_info"): {"reviewer"},
    ("decisions.ruleset", "new_draft"): {"author"},
    ("decisions.ruleset", "retire_published"): {"publisher"},
    ("decisions.ruleset", "roll_back"): {"publisher"},
    ("decisions.rulesetversion", "submit_for_review"): {"author"},
    ("decisions.rulesetversion", "return_to_draft"): {"author", "publisher"},
    ("decisions.rulesetversion", "run_backtest"): {"author", "publisher"},
    ("integrations.apikey", "rotate_selected"): set(),
    ("integrations.apikey", "revoke_selected"): set(),
    ("integrations.webhooksource", "add_secret"): set(),
    ("integrations.inboundevent", "redeliver_deduplicated"): set(),
    ("integrations.inboundevent", "redeliver_with_new_key"): set(),
}
# Which target an action works on, where it is not the model's own target.
ACTION_TARGETS = {
    ("approvals.reviewtask", "release"): "task_held",
    ("decisions.rulesetversion", "submit_for_review"): "draft_version",
    ("decisions.rulesetversion", "return_to_draft"): "review_version",
    ("decisions.rulesetversion", "run_backtest"): "review_version",
}
ACTION_DATA = {"reassign": {"assignee": "m-reviewer2"}, "reject": {"text": "matrix"}}
ACTION_DATA["request_info"] = {"text": "matrix"}

# Custom admin URLs (beyond changelist/add/change/delete/history): name -> method -> roles.
CUSTOM_URLS: dict[str, dict[str, Any]] = {
    "decisions_rulesetversion_table": {
        "target": "draft_version",
        "GET": {"author"},
        "POST": {"author"},
    },
    "decisions_rulesetversion_publish": {
        "target": "review_version",
        "GET": DECISION_READERS,
        "POST": {"publisher"},
    },
    "decisions_rulesetversion_diff": {"target": "rulesetversion", "GET": DECISION_READERS},
    "integrations_manual_start": {"target": None, "GET": set(), "POST": set()},
    # A task page's decision buttons post here (POST only); the matrix posts no decision, so
    # even the reviewer's POST only earns "choose a decision".
    "approvals_reviewtask_work": {"target": "task", "POST": {"reviewer"}},
}
STANDARD_URL_SUFFIXES = ("changelist", "add", "history", "delete", "change", "simple_history")


def _registered() -> list[tuple[str, admin.ModelAdmin]]:
    found = []
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label in PROJECT_APPS:
            found.append((model._meta.label_lower, model_admin))
    return sorted(found, key=lambda item: item[0])


def _rule(model: str, need: str) -> set[str]:
    rules = ADMIN_MODELS[model]
    if need == "list":
        return set(rules.get("list", rules["view"]))
    return set(rules.get(need, NOBODY))


def _unknown(what: str, table: str) -> tuple[str, dict[str, Any], set[str]]:
    """A cell that fails until the matrix says who may use something new in admin."""
    spec = {"kind": "unknown", "what": what, "table": table}
    return (f"{what} unknown to the matrix", spec, set())


def _admin_cells() -> list[tuple[str, dict[str, Any], set[str]]]:
    """(id, spec, roles allowed) for every admin URL of the project's apps."""
    cells = []
    for label, model_admin in _registered():
        model_name = label.split(".")[1]
        if model_name in QUEUE_PROXIES:
            cells.append((f"{label} changelist", {"model": label, "kind": "changelist"}, WORKERS))
            continue
        if label not in ADMIN_MODELS:
            cells.append(_unknown(f"{label} (a model admin)", "ADMIN_MODELS"))
            continue
        # Every history-tracked model gets the revert cells, whatever its admin class: the
        # URL must not rewrite the row even where the admin no longer offers the form.
        history = hasattr(model_admin.model, "history")
        kinds = [
            ("changelist", "list"),
            ("add GET", "add"),
            ("change GET", "view"),
            ("change POST", "change"),
            ("delete GET", "delete"),
            ("delete POST", "delete"),
            ("history GET", "view"),
        ]
        for kind, need in kinds:
            cells.append((f"{label} {kind}", {"model": label, "kind": kind}, _rule(label, need)))
        if history:
            # simple-history's revert form: each version stays readable to those who may view
            # the object (with no revert button), reverting is for no one.
            cells.append(
                (
                    f"{label} revert GET",
                    {"model": label, "kind": "revert GET"},
                    _rule(label, "view"),
                )
            )
            cells.append((f"{label} revert POST", {"model": label, "kind": "revert POST"}, set()))
        for _, name, _ in model_admin._get_base_actions():
            allowed = ADMIN_ACTIONS.get((label, name))
            if name == "delete_selected":
                allowed = _rule(label, "delete")
            if allowed is None:
                cells.append(_unknown(f"{label} action {name}", "ADMIN_ACTIONS"))
                continue
            cells.append(
                (
                    f"{label} action {name}",
                    {"model": label, "kind": "action", "action": name},
                    allowed,
                )
            )
        for pattern in model_admin.get_urls():
            name = getattr(pattern, "name", None) or ""
            if not name or name.endswith(STANDARD_URL_SUFFIXES):
                continue
            if name not in CUSTOM_URLS:
                cells.append(_unknown(f"{label} custom URL {name}", "CUSTOM_URLS"))
                continue
            for method in ("GET", "POST"):
                if method in CUSTOM_URLS[name]:
                    cells.append(
                        (
                            f"{label} {name} {method}",
                            {"model": label, "kind": "custom", "name": name, "method": method},
                            set(CUSTOM_URLS[name][method]),
                        )
                    )
    return cells


ADMIN_CELLS = _admin_cells()
ADMIN_ROLES = SESSION_ROLES  # API keys have no admin session

# --- API: endpoint -> roles allowed ---------------------------------------------------------
ORDER_READERS = {VIEWONLY, "reviewer", "supervisor"}
INVOICE_READERS = {VIEWONLY, "manager", "director", "supervisor"}
TASK_HOLDER = {"reviewer"}


def _order_url(world: World, name: str, suffix: str = "") -> str:
    return f"/api/v1/instances/order/{world.targets[name].pk}{suffix}"


API_CELLS: list[dict[str, Any]] = [
    {
        "id": "events POST",
        "method": "POST",
        "url": "/api/v1/events",
        "body": "event",
        "allowed": {"key:events:write"},
    },
    {
        "id": "hooks POST unsigned",
        "method": "POST",
        "url": "/api/v1/hooks/matrix-carrier/",
        "body": "event",
        "allowed": set(),
    },
    {
        "id": "instances order list",
        "method": "GET",
        "url": "/api/v1/instances/order/",
        "allowed": ORDER_READERS | {"key:instances:read"},
        "names": "M-OWN-1",
        "hides_from_keys": "M-ORDER-1",
    },
    {
        "id": "instance order detail (person's)",
        "method": "GET",
        "url": lambda w: _order_url(w, "order"),
        "allowed": ORDER_READERS,
        "names": "M-ORDER-1",
    },
    {
        "id": "instance order timeline (person's)",
        "method": "GET",
        "url": lambda w: _order_url(w, "order", "/timeline"),
        "allowed": ORDER_READERS,
        "names": "workflow.started",
    },
    {
        "id": "instance order detail (integration's own)",
        "method": "GET",
        "url": lambda w: _order_url(w, "own_order"),
        "allowed": ORDER_READERS | {"key:instances:read"},
        "names": "M-OWN-1",
    },
    {
        "id": "instance order timeline (integration's own)",
        "method": "GET",
        "url": lambda w: _order_url(w, "own_order", "/timeline"),
        "allowed": ORDER_READERS | {"key:instances:read"},
        "names": "workflow.started",
    },
    {
        "id": "instances invoice list",
        "method": "GET",
        "url": "/api/v1/instances/invoice/",
        "allowed": INVOICE_READERS | {"key:instances:read"},
        "hides_from_keys": "M-INV-1",
    },
    {
        "id": "instance invoice detail (person's)",
        "method": "GET",
        "url": lambda w: f"/api/v1/instances/invoice/{w.targets['invoice'].pk}",
        "allowed": INVOICE_READERS,
        "names": "M-INV-1",
    },
    {
        "id": "executions list",
        "method": "GET",
        "url": "/api/v1/executions/",
        "allowed": {VIEWONLY, "supervisor", "key:executions:read"},
    },
    {
        "id": "execution detail",
        "method": "GET",
        "url": lambda w: f"/api/v1/executions/{w.targets['execution'].pk}",
        "allowed": {VIEWONLY, "supervisor", "key:executions:read"},
        "names": lambda w: w.targets["execution"].idempotency_key,
    },
    {
        "id": "inbound events list",
        "method": "GET",
        "url": "/api/v1/inbound-events/",
        "allowed": {VIEWONLY, "key:inbound:read"},
        "hides_from_keys": "matrix-foreign-1",
    },
    {
        "id": "inbound event detail (integration's own)",
        "method": "GET",
        "url": lambda w: f"/api/v1/inbound-events/{w.targets['own_inbound'].pk}",
        "allowed": {VIEWONLY, "key:inbound:read"},
        "names": "matrix-own-1",
    },
    {
        "id": "inbound event detail (someone else's)",
        "method": "GET",
        "url": lambda w: f"/api/v1/inbound-events/{w.targets['foreign_inbound'].pk}",
        "allowed": {VIEWONLY},
        "names": "matrix-foreign-1",
    },
    {
        "id": "decision records list",
        "method": "GET",
        "url": "/api/v1/decisions/records/",
        "allowed": DECISION_READERS,
    },
    {
        "id": "decision record detail",
        "method": "GET",
        "url": lambda w: f"/api/v1/decisions/records/{w.targets['decisionrecord'].pk}",
        # A record holds the order's inputs: it follows the order's visibility too.
        "allowed": DECISION_READERS & ORDER_READERS,
        "names": "order-carrier",
    },
    {
        "id": "decision evaluate POST",
        "method": "POST",
        "url": "/api/v1/decisions/order-carrier/evaluate",
        "body": {"inputs": {"weight_kg": 2.5, "postcode_area": "AB"}},
        "allowed": DECISION_READERS,
    },
    {"id": "tasks list", "method": "GET", "url": "/api/v1/tasks/?queue=team", "allowed": WORKERS},
    {
        "id": "task detail",
        "method": "GET",
        "url": lambda w: f"/api/v1/tasks/{w.targets['task'].pk}",
        "allowed": TASK_HOLDER,
        "names": "manual.review",
    },
    {
        "id": "task claim",
        "method": "POST",
        "url": lambda w: f"/api/v1/tasks/{w.targets['task'].pk}/claim",
        "allowed": TASK_HOLDER,
    },
    {
        "id": "task approve",
        "method": "POST",
        "url": lambda w: f"/api/v1/tasks/{w.targets['task'].pk}/approve",
        "allowed": TASK_HOLDER,
    },
    {
        "id": "task reject",
        "method": "POST",
        "body": {"reason": "matrix"},
        "url": lambda w: f"/api/v1/tasks/{w.targets['task'].pk}/reject",
        "allowed": TASK_HOLDER,
    },
    {
        "id": "task release (claimed by the reviewer)",
        "method": "POST",
        "url": lambda w: f"/api/v1/tasks/{w.targets['task_held'].pk}/release",
        "allowed": TASK_HOLDER,
    },
    # Escalation hand-off: the level-1 group keeps sight at level 2, and a holder who cannot
    # decide does not stop the queue's reviewers from deciding.
    {
        "id": "task detail (escalated to level 2)",
        "method": "GET",
        "url": lambda w: f"/api/v1/tasks/{w.targets['task_escalated'].pk}",
        "allowed": {"reviewer", "supervisor"},
        "names": "manual.review",
    },
    {
        "id": "task approve (held by one who cannot decide)",
        "method": "POST",
        "url": lambda w: f"/api/v1/tasks/{w.targets['task_blocked'].pk}/approve",
        "allowed": {"reviewer"},
    },
    # The contract and its viewer are public.
    {
        "id": "schema",
        "method": "GET",
        "url": "/api/v1/schema/",
        "allowed": set(ALL_ROLES),
        "names": "openapi",
    },
    {
        "id": "docs",
        "method": "GET",
        "url": "/api/v1/docs/",
        "allowed": set(ALL_ROLES),
        "names": "swagger",
    },
]
_events = itertools.count(1)


# --- what must not change when a cell is refused --------------------------------------------


def snapshot() -> dict[str, Any]:
    from approvals.models import EscalationPolicy, ReviewTask
    from audit.models import Event
    from decisions.models import Backtest, DecisionRecord, RuleSet, RuleSetVersion
    from integrations.models import (
        ApiKey,
        EventType,
        InboundEvent,
        Integration,
        Rejection,
        Schedule,
        WebhookSecret,
        WebhookSource,
    )
    from processes.invoices.models import Invoice
    from processes.orders.models import Order
    from workflows.models import Execution, Timer

    def rows(queryset, *fields):
        return sorted(queryset.values_list("pk", *fields), key=str)

    return {
        "orders": rows(Order.objects, "state", "version", "context"),
        "invoices": rows(Invoice.objects, "state", "version", "context"),
        "events": Event.objects.count(),
        "api keys": rows(ApiKey.objects, "digest", "revoked_at", "name", "scopes"),
        "webhook secrets": rows(WebhookSecret.objects, "secret", "is_active"),
        "webhook sources": rows(WebhookSource.objects, "name", "is_active"),
        "rule sets": rows(RuleSet.objects, "name", "description"),
        "rule set versions": rows(
            RuleSetVersion.objects, "status", "published_by", "submitted_by", "content"
        ),
        "review tasks": rows(ReviewTask.objects, "status", "assignee", "escalated_to"),
        "escalation policies": rows(EscalationPolicy.objects, "sla", "escalate_to"),
        "executions": rows(Execution.objects, "status", "attempts"),
        "timers": rows(Timer.objects, "fired_at"),
        "inbound events": InboundEvent.objects.count(),
        "decision records": DecisionRecord.objects.count(),
        "backtests": Backtest.objects.count(),
        "integrations": rows(Integration.objects, "name", "is_active"),
        "event types": rows(EventType.objects, "name", "is_active"),
        "schedules": rows(Schedule.objects, "name", "is_active"),
        "rejections": Rejection.objects.count(),
    }


def assert_unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    recorded = after["rejections"] - before["rejections"]
    assert recorded in (0, 1), f"{recorded} rejections recorded by one refused request"
    changed = [name for name in before if name != "rejections" and before[name] != after[name]]
    assert not changed, f"refused, yet changed: {', '.join(changed)}"


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and "/login/" in response.get("Location", "")


# --- admin cells ------------------------------------------------------------------------------


def _model_admin(label: str) -> admin.ModelAdmin:
    return next(model_admin for found, model_admin in _registered() if found == label)


def _target(world: World, label: str):
    return world.targets[label.split(".")[1]]


def _base(label: str) -> str:
    return "/admin/{}/{}/".format(*label.split("."))


def _form_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, timedelta):
        return duration_string(value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def revert_form_data(world: World, label: str, obj, historic) -> dict[str, Any]:
    """What the revert form would post back: the historic record's values of its fields."""
    model_admin = _model_admin(label)
    request = RequestFactory().get("/")
    request.user = world.users[VIEWONLY]
    form = model_admin.get_form(request, obj)
    values = model_to_dict(historic.instance, fields=list(form.base_fields))
    return {
        name: _form_value(value)
        for name, value in values.items()
        if value is not False  # an unticked checkbox is absent from a POST
    }


class ActionSpy:
    """Records the primary keys each admin action was called with, action unchanged."""

    def __init__(self, monkeypatch, model_admin: admin.ModelAdmin, name: str) -> None:
        self.called_with: list[Any] = []
        if name in admin.site._actions:
            original = admin.site._actions[name]
            monkeypatch.setitem(admin.site._actions, name, self._wrap(original))
        else:
            original = getattr(type(model_admin), name)
            monkeypatch.setattr(type(model_admin), name, self._wrap(original))

    def _wrap(self, function):
        @functools.wraps(function)
        def spy(model_admin, request, queryset):
            self.called_with.extend(queryset.values_list("pk", flat=True))
            return function(model_admin, request, queryset)

        return spy


def _admin_request(world: World, role: str, spec: dict[str, Any], monkeypatch):
    client = world.client(role)
    label, kind = spec["model"], spec["kind"]
    base = _base(label)
    if kind == "changelist":
        return client.get(base), None, None
    if kind == "add GET":
        return client.get(f"{base}add/"), None, None
    obj = _target(world, label) if kind not in ("action", "custom") else None
    if kind == "change GET":
        return client.get(f"{base}{obj.pk}/change/"), obj, None
    if kind == "change POST":
        return client.post(f"{base}{obj.pk}/change/", {}), obj, None
    if kind == "delete GET":
        return client.get(f"{base}{obj.pk}/delete/"), obj, None
    if kind == "delete POST":
        return client.post(f"{base}{obj.pk}/delete/", {"post": "yes"}), obj, None
    if kind == "history GET":
        return client.get(f"{base}{obj.pk}/history/"), obj, None
    if kind in ("revert GET", "revert POST"):
        historic = obj.history.order_by("history_date", "history_id").first()
        url = f"{base}{obj.pk}/history/{historic.history_id}/"
        if kind == "revert GET":
            return client.get(url), obj, None
        return client.post(url, revert_form_data(world, label, obj, historic)), obj, None
    if kind == "action":
        name = spec["action"]
        obj = world.targets[ACTION_TARGETS.get((label, name), label.split(".")[1])]
        spy = ActionSpy(monkeypatch, _model_admin(label), name)
        data = {
            "action": name,
            "index": 0,
            "_selected_action": [obj.pk],
            "post": "yes",
            **ACTION_DATA.get(name, {}),
        }
        return client.post(base, data), obj, spy
    if kind == "custom":
        custom = CUSTOM_URLS[spec["name"]]
        obj = world.targets[custom["target"]] if custom["target"] else None
        url = reverse(f"admin:{spec['name']}", args=[obj.pk] if obj else [])
        if spec["method"] == "GET":
            return client.get(url), obj, None
        return client.post(url, {}), obj, None
    raise AssertionError(kind)


def _custom_effect(spec: dict[str, Any], obj) -> bool | None:
    """For custom POSTs whose success is observable: did it take effect?"""
    if spec.get("name") == "decisions_rulesetversion_publish":
        obj.refresh_from_db()
        return obj.status == "published"
    return None


ADMIN_PARAMS = [
    pytest.param(spec, role, role in allowed, id=f"{cell_id} as {role}")
    for cell_id, spec, allowed in ADMIN_CELLS
    for role in ADMIN_ROLES
]


@pytest.mark.parametrize(("spec", "role", "allowed"), ADMIN_PARAMS)
def test_admin_matrix(world: World, db, monkeypatch, spec, role, allowed) -> None:
    if spec["kind"] == "unknown":
        pytest.fail(f"{spec['what']} is new: say who may use it in {spec['table']}")
    before = None if allowed else snapshot()
    response, obj, spy = _admin_request(world, role, spec, monkeypatch)
    assert response.status_code < 500
    kind = spec["kind"]
    is_get = (
        kind.endswith("GET")
        or kind == "changelist"
        or (kind == "custom" and spec["method"] == "GET")
    )
    if allowed:
        assert response.status_code not in (401, 403, 404, 405)
        assert not is_login_redirect(response)
        if kind == "action":
            assert obj.pk in spy.called_with, f"the action did not run: {response.status_code}"
        elif is_get:
            assert response.status_code == 200
            content = response.content.decode()
            if kind == "changelist":
                # The target is listed to those who may view it (a task: in their queue).
                label = spec["model"]
                if label.split(".")[1] not in QUEUE_PROXIES and role in _rule(label, "view"):
                    target = _target(world, label)
                    assert f"{_base(label)}{target.pk}/change/" in content
            elif kind == "revert GET":
                # The page shows the object as it was (a version's status then, not now).
                assert escape(str(obj)).split(" (")[0][:30] in content
                assert 'name="_save"' not in content, "the version page offers a revert"
            elif obj is not None:
                assert escape(str(obj))[:30] in content
        elif kind == "custom":
            assert _custom_effect(spec, obj) in (True, None)
        return
    # Refused: told so, or at least nothing done.
    if kind == "action":
        assert obj.pk not in spy.called_with, f"the action ran as {role}"
    elif is_get:
        assert response.status_code in (302, 403, 404), response.status_code
        if response.status_code == 302:
            assert is_login_redirect(response) or role != "anonymous"
    elif kind in ("change POST", "delete POST"):
        assert response.status_code == 403 or is_login_redirect(response), response.status_code
    if kind == "custom":
        assert _custom_effect(spec, obj) in (False, None), "it took effect"
    assert_unchanged(before, snapshot())


# --- API cells --------------------------------------------------------------------------------


def _api_request(world: World, role: str, cell: dict[str, Any]):
    client = world.client(role if role in SESSION_ROLES else "anonymous")
    headers = world.api_headers(role)
    url = cell["url"](world) if callable(cell["url"]) else cell["url"]
    if cell["method"] == "GET":
        return client.get(url, **headers)
    body = cell.get("body", {})
    number = next(_events)
    if body == "event":
        from tests.factories import order_received_event

        body = order_received_event(source="matrix-shop", correlation_key=f"M-NEW-{number}")
        headers = {**headers, "HTTP_IDEMPOTENCY_KEY": f"matrix-cell-{number}"}
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


API_PARAMS = [
    pytest.param(cell, role, role in cell["allowed"], id=f"{cell['id']} as {role}")
    for cell in API_CELLS
    for role in ALL_ROLES
]


@pytest.mark.parametrize(("cell", "role", "allowed"), API_PARAMS)
def test_api_matrix(world: World, db, cell, role, allowed) -> None:
    before = None if allowed else snapshot()
    response = _api_request(world, role, cell)
    assert response.status_code < 500, response.content[:500]
    if allowed:
        assert 200 <= response.status_code < 300, response.content[:300]
        if cell["method"] == "GET":
            content = response.content.decode()
            names = cell.get("names")
            names = names(world) if callable(names) else names
            if names:
                assert names in content
            if role in KEY_ROLES and cell.get("hides_from_keys"):
                assert cell["hides_from_keys"] not in content, "a key read another's data"
        return
    assert response.status_code in (401, 403, 404), (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/problem+json")
    assert_unchanged(before, snapshot())


# --- the trust boundaries that are not a URL: what a caller sends, and the command line ------


def _send(world: World, key: str, body: dict[str, Any], idempotency_key: str):
    return world.client("anonymous").post(
        "/api/v1/events",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
        HTTP_IDEMPOTENCY_KEY=idempotency_key,
    )


def test_a_binding_cannot_make_an_integration_decide_a_human_step(world: World, db) -> None:
    """Hole 3: a signal binding naming manager_approve must not let a key approve an invoice."""
    from django.core.exceptions import ValidationError
    from django.db import DatabaseError, transaction

    from integrations.models import BindingAction, EventType, TriggerBinding

    invoice = world.targets["invoice"]
    before = snapshot()
    try:
        with transaction.atomic():
            event_type = EventType.objects.create(
                name="matrix.invoice-signed-off", schema={"type": "object"}
            )
            TriggerBinding.objects.create(
                event_type=event_type,
                action=BindingAction.SIGNAL,
                workflow="invoice",
                transition="manager_approve",
            )
            TriggerBinding.objects.get(event_type=event_type).full_clean()
    except (ValidationError, DatabaseError):  # refused when saved: closed there
        assert_unchanged(before, snapshot())
        return
    before = snapshot()
    response = _send(
        world,
        world.keys["key:events:write"],
        {
            "type": "matrix.invoice-signed-off",
            "source": "matrix-shop",
            "occurred_at": "2026-11-25T12:00:00+00:00",
            "correlation_key": invoice.correlation_key,
            "payload": {},
        },
        "matrix-signed-off-1",
    )
    invoice.refresh_from_db()
    assert invoice.state == "awaiting_manager", f"an integration moved it to {invoice.state}"
    assert response.status_code in (400, 403, 409, 422), response.content[:300]
    assert response["Content-Type"].startswith("application/problem+json")
    assert_unchanged(before, snapshot())


def test_caller_input_cannot_write_what_the_server_owns(world: World, db) -> None:
    """Hole 4: a `carrier_choice` naming a real user must not land where the server reads it."""
    from processes.orders.models import Order
    from tests.factories import order_received_event

    body = order_received_event(source="matrix-shop", correlation_key="M-FORGED-1")
    body["payload"]["carrier_choice"] = {"carrier": "freightline", "by": "m-director"}
    response = _send(world, world.keys["key:events:write"], body, "matrix-forged-1")
    assert response.status_code < 500
    order = Order.objects.filter(correlation_key="M-FORGED-1").first()
    if order is not None:
        assert "carrier_choice" not in order.context, "caller data sits among server fields"


def test_an_idempotency_key_belongs_to_the_integration_that_sent_it(world: World, db) -> None:
    """Hole 5: another integration naming our source gets neither our answer nor our key."""
    from integrations.models import InboundEvent

    own = world.targets["own_inbound"]
    other_key = world.targets["other_key"]
    replay = _send(world, other_key, world.targets["own_body"], "matrix-own-1")
    assert replay.status_code < 500
    assert replay.get("Idempotent-Replayed") is None, "another integration got our replay"
    assert str(own.pk) not in replay.content.decode(), "another integration read our answer"

    # Claiming a key first under our name must not block our own request.
    from tests.factories import order_received_event

    squatted = order_received_event(source="matrix-shop", correlation_key="M-SQUAT-1")
    _send(world, other_key, squatted, "matrix-squat-1")
    mine = order_received_event(source="matrix-shop", correlation_key="M-MINE-1")
    answer = _send(world, world.keys["key:events:write"], mine, "matrix-squat-1")
    assert answer.status_code in (200, 201), answer.content[:300]
    assert InboundEvent.objects.filter(correlation_key="M-MINE-1").exists()


def test_an_escalation_group_without_the_step_permission_is_refused(world: World, db) -> None:
    """Hole 8: the policy form must refuse an escalate-to group that cannot decide the step."""
    from django.contrib.auth.models import Group

    policy = world.targets["escalationpolicy"]
    label = "approvals.escalationpolicy"
    request = RequestFactory().get("/")
    request.user = world.users["supervisor"]
    form = _model_admin(label).get_form(request, policy)
    data = {
        name: _form_value(value)
        for name, value in model_to_dict(policy, fields=list(form.base_fields)).items()
    }
    data["escalate_to"] = Group.objects.get(name="matrix-night-desk").pk
    before = snapshot()
    response = world.client("supervisor").post(f"{_base(label)}{policy.pk}/change/", data)
    assert response.status_code in (200, 403), "the policy was saved"
    assert_unchanged(before, snapshot())


def test_decide_task_does_not_act_as_another_person(world: World, db) -> None:
    """Hole 9: `review_task --as <user>` must not let one operator decide as someone else."""
    from django.core.management import CommandError, call_command

    task = world.targets["task"]
    before = snapshot()
    with pytest.raises(CommandError):
        call_command("review_task", str(task.pk), "approve", "--as", "m-reviewer")
    assert_unchanged(before, snapshot())
