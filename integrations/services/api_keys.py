"""Integrations and their API keys: mint, rename, revoke and rotate, each one recorded
configuration change."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from audit.services import record_config_change
from integrations.digests import key_digest
from integrations.models import ApiKey, Integration
from opscore.actors import SYSTEM, Actor


def _service_user(integration: Integration):
    if integration.user_id is not None:
        return integration.user
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(
        username=f"integration:{integration.name}"[:150],
        defaults={"is_staff": False, "is_active": True},
    )
    user.set_unusable_password()
    user.save()
    integration.user = user
    integration.save(update_fields=["user"])
    return user


def api_key_fields(api_key: ApiKey) -> dict[str, Any]:
    """What a configuration event says of a key: never the key nor its digest, only its
    public prefix, its name and what it may do."""
    return {
        "integration": api_key.integration.name,
        "name": api_key.name,
        "prefix": api_key.prefix,
        "scopes": list(api_key.scopes),
        "event_types": list(api_key.event_types),
        "revoked_at": api_key.revoked_at,
        "replaced_by": api_key.replaced_by.prefix if api_key.replaced_by_id else None,
    }


def _record_api_key(
    *,
    api_key: ApiKey,
    actor: Actor,
    channel: str,
    action: str,
    before: dict[str, Any] | None,
) -> None:
    record_config_change(
        actor=actor,
        channel=channel,
        kind="apikey",
        action=action,
        target=api_key,
        label=f"key {api_key.prefix} of {api_key.integration.name}",
        before=before,
        after=api_key_fields(api_key),
    )


def _mint_api_key(
    *, integration: Integration, scopes: list[str], event_types: list[str], name: str
) -> tuple[ApiKey, str]:
    _service_user(integration)
    prefix = secrets.token_hex(4)
    plaintext = f"opk_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        integration=integration,
        name=name,
        prefix=prefix,
        digest=key_digest(plaintext),
        scopes=list(scopes),
        event_types=list(event_types),
    )
    return api_key, plaintext


def create_api_key(
    *,
    integration: Integration,
    scopes: list[str],
    event_types: list[str],
    name: str = "",
    actor: Actor = SYSTEM,
    channel: str = "system",
) -> tuple[ApiKey, str]:
    """Mint a key; the plaintext is returned once and only its digest is stored. One
    `config.apikey.created` event, naming the key by its prefix."""
    with transaction.atomic():
        api_key, plaintext = _mint_api_key(
            integration=integration, scopes=scopes, event_types=event_types, name=name
        )
        _record_api_key(
            api_key=api_key, actor=actor, channel=channel, action="created", before=None
        )
    return api_key, plaintext


def rename_api_key(
    *, api_key: ApiKey, name: str, actor: Actor = SYSTEM, channel: str = "system"
) -> ApiKey:
    """Change a key's label, the one thing about a live key edited in place."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().select_related("integration").get(pk=api_key.pk)
        if locked.name == name:
            return locked
        before = api_key_fields(locked)
        locked.name = name
        locked.save(update_fields=["name"])
        _record_api_key(
            api_key=locked, actor=actor, channel=channel, action="changed", before=before
        )
    return locked


def revoke_api_key(*, api_key: ApiKey, actor: Actor = SYSTEM, channel: str = "system") -> ApiKey:
    """Stop a key at once; revoking a revoked key changes (and records) nothing."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().select_related("integration").get(pk=api_key.pk)
        if locked.revoked_at is None:
            before = api_key_fields(locked)
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            _record_api_key(
                api_key=locked, actor=actor, channel=channel, action="revoked", before=before
            )
    api_key.refresh_from_db()
    return api_key


def rotate_api_key(
    *, api_key: ApiKey, actor: Actor = SYSTEM, channel: str = "system"
) -> tuple[ApiKey, str]:
    """Replace a key with a new one of the same scopes; the old one stops working at once.
    One `config.apikey.rotated` event on the old key, naming the new one by its prefix."""
    with transaction.atomic():
        old = ApiKey.objects.select_for_update().select_related("integration").get(pk=api_key.pk)
        before = api_key_fields(old)
        new, plaintext = _mint_api_key(
            integration=old.integration,
            scopes=old.scopes,
            event_types=old.event_types,
            name=old.name,
        )
        old.revoked_at = old.revoked_at or timezone.now()
        old.replaced_by = new
        old.save(update_fields=["revoked_at", "replaced_by"])
        _record_api_key(api_key=old, actor=actor, channel=channel, action="rotated", before=before)
    return new, plaintext


def ensure_integration(
    *, name: str, actor: Actor = SYSTEM, channel: str = "system"
) -> tuple[Integration, bool]:
    """The integration named `name`, created (and recorded) if missing."""
    with transaction.atomic():
        integration, created = Integration.objects.get_or_create(name=name)
        if created:
            record_config_change(
                actor=actor,
                channel=channel,
                kind="integration",
                action="created",
                target=integration,
                label=integration.name,
                before=None,
                after={"name": integration.name, "is_active": integration.is_active},
            )
    return integration, created
