"""Per-process caches of API keys and event types, exact because they follow the generation row.

Every ingested event looks up its API key (three tables) and its event type (two); through
the ORM that was a fifth of a request's CPU. Here each process keeps what it found, tagged
with the value of `LookupGeneration`, which database triggers change on any write to those
tables (a revocation, a rotation, a deactivated integration or user, an edited schema or
binding; admin, services, bulk updates and raw SQL alike). A lookup first reads that one
value (a primary-key read of a one-row table, once per request: later lookups in the same
request reuse it); if it moved, the cache is dropped. So a revoked key is refused by every
process on the first request that starts after the revocation commits, with no time to
live to wait out.

The generation is read before the rows it guards, so a change committed in between leaves
rows newer than their tag, never older. A missing generation row (an emptied test database)
is put back with a fresh value. Unknown keys and types are not cached: a typo costs the
query it always cost. The generation row itself is `opscore.generations`'s.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from integrations.digests import key_digest
from integrations.models import ApiKey, EventType, Integration
from opscore.generations import read_generation

TABLE = "integrations_lookup_generation"


@dataclass
class _Cache:
    generation: int
    # digest -> (api key, integration, user) as (field names, values) for Model.from_db
    api_keys: dict[str, tuple[tuple[Any, ...], ...]] = field(default_factory=dict)
    event_types: dict[str, EventType] = field(default_factory=dict)


# Replaced whole (never emptied in place), so a thread holding the old one reads it safely.
_cache = _Cache(generation=-1)
# Per thread: inside an HTTP request (between Django's request_started and request_finished)
# and whether this request has checked the generation yet. Not the request id: a caller
# chooses that (X-Request-ID), and must not be able to skip the check by repeating one.
_request = threading.local()


def request_started(**kwargs) -> None:
    _request.inside, _request.checked = True, False


def request_finished(**kwargs) -> None:
    _request.inside, _request.checked = False, False


def _read_generation() -> int:
    return read_generation(table=TABLE)


def current() -> _Cache:
    """The cache, checked against the generation once per HTTP request and on every call
    outside one (tasks, commands)."""
    global _cache
    inside = getattr(_request, "inside", False)
    if inside and _request.checked:
        return _cache
    generation = _read_generation()
    cache = _cache
    if generation != cache.generation:
        cache = _cache = _Cache(generation=generation)
    if inside:
        _request.checked = True
    return cache


_API_KEY_FIELDS = tuple(f.attname for f in ApiKey._meta.concrete_fields)
_INTEGRATION_FIELDS = tuple(f.attname for f in Integration._meta.concrete_fields)


def active_api_key(*, key: str) -> ApiKey | None:
    """The live key with its integration and service user, as fresh model instances (a
    request may change them without touching another request's), or None."""
    cache = current()
    digest = key_digest(key)
    rows = cache.api_keys.get(digest)
    if rows is None:
        try:
            found = ApiKey.objects.select_related("integration", "integration__user").get(
                digest=digest,
                revoked_at__isnull=True,
                integration__is_active=True,
                integration__user__isnull=False,
            )
        except ApiKey.DoesNotExist:
            return None
        user = found.integration.user
        user_fields = tuple(f.attname for f in type(user)._meta.concrete_fields)
        rows = (
            tuple(getattr(found, name) for name in _API_KEY_FIELDS),
            tuple(getattr(found.integration, name) for name in _INTEGRATION_FIELDS),
            (user_fields, tuple(getattr(user, name) for name in user_fields)),
        )
        cache.api_keys[digest] = rows
    key_values, integration_values, (user_fields, user_values) = rows
    api_key = ApiKey.from_db(connection.alias, _API_KEY_FIELDS, _copied(key_values))
    integration = Integration.from_db(
        connection.alias, _INTEGRATION_FIELDS, _copied(integration_values)
    )
    integration.user = get_user_model().from_db(connection.alias, user_fields, user_values)
    api_key.integration = integration
    return api_key


def _copied(values: tuple[Any, ...]) -> list[Any]:
    # JSON fields (scopes, event types) are lists: each request gets its own.
    return [list(value) if isinstance(value, list) else value for value in values]


def note_key_used(api_key: ApiKey) -> None:
    """Keep the cached copy's `last_used_at` in step with the row just written."""
    rows = _cache.api_keys.get(api_key.digest)
    if rows is not None:
        values = list(rows[0])
        values[_API_KEY_FIELDS.index("last_used_at")] = api_key.last_used_at
        _cache.api_keys[api_key.digest] = (tuple(values), *rows[1:])


def active_event_type(*, name: str) -> EventType | None:
    """The active event type with its binding loaded, or None. Shared by the requests of
    this process: read it, never change it."""
    cache = current()
    event_type = cache.event_types.get(name)
    if event_type is None:
        try:
            event_type = EventType.objects.select_related("binding").get(name=name, is_active=True)
        except EventType.DoesNotExist:
            return None
        cache.event_types[name] = event_type
    return event_type
