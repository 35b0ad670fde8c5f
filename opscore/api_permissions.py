"""Read access by permission: a person reads through the API only what admin lets them view.

The rule lives here once. A read view says which models it shows (`permission_models()`, and
for one object `permission_models_for(obj)`); a session needs Django's `view` permission on
each of them, or the request is 403. API keys are not people: their endpoint scopes
(`integrations.authentication.ApiKeyScopePermission`) and the view's visibility filter (an
integration sees its own instances) decide for them, so this class lets a key through.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_permission_codename
from django.db.models import Model
from rest_framework import permissions


def view_permission(model: type[Model]) -> str:
    """Django's permission for viewing `model`, e.g. `processes.view_order`."""
    return f"{model._meta.app_label}.{get_permission_codename('view', model._meta)}"


def is_key_request(request) -> bool:
    """True for a credential that is not a person's session: an API key sets `request.auth`."""
    return request.auth is not None


class HasModelViewPermission(permissions.BasePermission):
    """A session needs the view permission of every model the view shows, and of the object."""

    message = "You may not view this."

    def has_permission(self, request, view) -> bool:
        if is_key_request(request):
            return True
        return self._allowed(request, view.permission_models())

    def has_object_permission(self, request, view, obj) -> bool:
        if is_key_request(request):
            return True
        models_for = getattr(view, "permission_models_for", None)
        return self._allowed(request, models_for(obj) if models_for else [type(obj)])

    def _allowed(self, request, models: Iterable[type[Model]]) -> bool:
        missing = [
            codename
            for codename in dict.fromkeys(view_permission(model) for model in models)
            if not request.user.has_perm(codename)
        ]
        if missing:
            # An instance attribute: DRF reads the refusal's detail from the permission object.
            self.message = f"You need the permission {', '.join(missing)} to view this."
        return not missing


class ReadByPermission:
    """Mixin for read views: adds HasModelViewPermission to the default permission classes.

    The view names what it shows with `permission_model` or `permission_models()`, and may
    refine per object with `permission_models_for(obj)` (an execution shows its instance).
    """

    permission_model: type[Model] | None = None

    def get_permissions(self):
        return [*super().get_permissions(), HasModelViewPermission()]

    def permission_models(self) -> list[type[Model]]:
        if self.permission_model is None:
            raise NotImplementedError(f"{type(self).__name__} names no permission_model")
        return [self.permission_model]
