"""Pieces every app's admin shares: records that are looked at, never edited, history that is
read but never reverted, actions that run a service on each selected row, secrets shown once,
and JSON shown."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.utils.html import format_html
from django.utils.safestring import SafeString
from simple_history.admin import SimpleHistoryAdmin

from opscore.actors import Actor
from opscore.admin_links import changelist_url


class ReadOnlyAdminMixin:
    """A model admin that shows rows and never adds, changes or deletes them from the admin."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ExplainRefusedActionsMixin:
    """An action the person lacks the permission for is refused with a reason, not the admin's
    bare "No action selected": every action declares `permissions=`, and Django drops the
    actions someone may not run before it looks at the one posted."""

    def changelist_view(self, request, extra_context=None):
        name = request.POST.get("action") if request.method == "POST" else None
        if name and name not in self.get_actions(request):
            known = {action_name for _, action_name, _ in self._get_base_actions()}
            if name in known:
                self.message_user(
                    request,
                    f"You lack the permission to run {name!r}: nothing was changed.",
                    messages.ERROR,
                )
                return HttpResponseRedirect(request.get_full_path())
        return super().changelist_view(request, extra_context)


class HistoryReadOnlyAdmin(ExplainRefusedActionsMixin, SimpleHistoryAdmin):
    """History pages to read, never to revert from.

    simple-history's revert saves the historical row as it was: state, version, context or a
    rule set's status come back with no engine call and no event, whatever the field's
    read-only flag or `SIMPLE_HISTORY_REVERT_DISABLED` say. Every history admin of the project
    derives from this class, so the list and each version stay visible to whoever may view the
    object, and any write through a history page is refused before a form is even built.
    """

    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def has_change_history_permission(self, request, obj=None) -> bool:
        return False

    def history_view(self, request, object_id, extra_context=None):
        # simple-history links whoever made each change to their user page; a viewer who may
        # not open user pages reads the name alone (a URL name that does not reverse).
        if changelist_url(get_user_model(), request=request) is None:
            extra_context = {**(extra_context or {}), "admin_user_view": "opscore-no-user-page"}
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            raise PermissionDenied("history is read-only: changes go through the services")
        return super().history_form_view(request, object_id, version_id, extra_context)


SHOW_ONCE_SESSION_KEY = "opscore_show_once"


class ServiceActionsMixin:
    """Admin actions that run one service on each selected row, as the person asking: a refusal
    (`refusals`) is reported for its row and the other rows still run."""

    refusals: tuple[type[Exception], ...] = ()

    def refusal_message(self, obj: Any, error: Exception) -> str:
        return str(error)

    def act_on_each(
        self,
        request,
        queryset,
        act: Callable[[Any, Actor], Any],
        *,
        done: Callable[[Any], str] | None = None,
        summary: Callable[[int], str] | None = None,
    ) -> None:
        """`done` says what became of each row (given what `act` returned), `summary` says once
        how many rows it succeeded on."""
        actor = Actor.for_user(request.user)
        succeeded = 0
        for obj in queryset:
            try:
                result = act(obj, actor)
            except self.refusals as error:
                self.message_user(request, self.refusal_message(obj, error), messages.ERROR)
                continue
            succeeded += 1
            if done is not None:
                self.message_user(request, done(result), messages.SUCCESS)
        if summary is not None and succeeded:
            self.message_user(request, summary(succeeded), messages.SUCCESS)


def show_once(request, html: SafeString) -> None:
    """Keep a secret (a new API key, a webhook secret) for the next page of this admin.

    It waits in the server-side session, not in the messages framework's storage: the default
    cookie storage is signed, not encrypted, and would carry the secret to the browser and back.
    """
    request.session[SHOW_ONCE_SESSION_KEY] = [*request.session.get(SHOW_ONCE_SESSION_KEY, []), html]


class ShowOnceMixin:
    """Shows what `show_once` kept as messages rendered on this very page, then forgets it."""

    def _pop_shown_once(self, request) -> None:
        # Only on a page that renders now: a message added to a POST that redirects would be
        # stored in the messages cookie until the next page.
        if request.method != "GET":
            return
        for html in request.session.pop(SHOW_ONCE_SESSION_KEY, []):
            messages.warning(request, SafeString(html))

    def changelist_view(self, request, extra_context=None):
        self._pop_shown_once(request)
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._pop_shown_once(request)
        return super().change_view(request, object_id, form_url, extra_context)


def json_block(value: Any) -> str:
    """A JSON value as an indented, key-sorted, escaped <pre> block for a read-only field; a
    value JSON cannot encode (a moment, a decimal) is shown as its text, never a crash."""
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))
