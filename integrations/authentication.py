"""`Authorization: Api-Key <key>` for integrations, and the scope check that goes with it."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from integrations import lookups, selectors
from integrations.models import ApiKey

KEYWORD = "Api-Key"
# Writing last_used_at on every call would add a row write to every request; a minute is
# precise enough to see which keys are alive before revoking one.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticates as the integration's service user; `request.auth` is the ApiKey."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, key = header.partition(" ")
        if keyword.lower() != KEYWORD.lower():
            return None
        key = key.strip()
        if not key:
            raise exceptions.AuthenticationFailed("Api-Key header without a key")
        api_key = selectors.active_api_key(key=key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("unknown or revoked API key")
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
            api_key.last_used_at = now
            lookups.note_key_used(api_key)
        return api_key.integration.user, api_key

    def authenticate_header(self, request) -> str:
        return KEYWORD


class ApiKeyScopePermission(permissions.BasePermission):
    """An API key may call a view only if the view names a scope (`required_scope`) it holds.

    Views without a scope are closed to keys, so a new endpoint is never reachable by an
    integration by accident. Session users are left to the other permission classes.
    """

    message = "this API key is not scoped for this endpoint"

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, ApiKey):
            return True
        scope = getattr(view, "required_scope", None)
        return scope is not None and scope in request.auth.scopes
