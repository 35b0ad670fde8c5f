"""Configuration as it stands, as plain JSON-able fields: the `before` and `after` of a config
event. Secrets never enter a snapshot, whatever the caller lists."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import Permission
from django.db import models

# A field whose name holds one of these is never recorded, even when listed or by default:
# key digests, webhook secrets, password hashes, tokens. Only that something changed is
# recorded, by the action of the event ("rotated") or by a field the caller derives.
SECRET_NAME_PARTS = ("secret", "digest", "password", "token", "hash")


def is_secret_field(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in SECRET_NAME_PARTS)


def default_config_fields(model: type[models.Model], *, exclude: Iterable[str] = ()) -> list[str]:
    """Every field a person sets on `model`: concrete editable fields and many-to-many ones,
    without the primary key, automatic timestamps and secrets."""
    excluded = set(exclude)
    names = []
    for field in [*model._meta.concrete_fields, *model._meta.many_to_many]:
        if field.primary_key or not field.editable or field.name in excluded:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            continue
        if is_secret_field(field.name):
            continue
        names.append(field.name)
    return names


def _related_label(obj: models.Model) -> str:
    if isinstance(obj, Permission):
        return f"{obj.content_type.app_label}.{obj.codename}"
    return str(obj)


def _plain(value: Any) -> Any:
    if isinstance(value, timedelta):
        return str(value)
    return value


def snapshot(obj: models.Model, fields: Sequence[str]) -> dict[str, Any]:
    """The named fields of `obj` as a person reads them: a foreign key by its label, a
    many-to-many field as the sorted labels of its members (a permission as
    `app_label.codename`), a duration as `H:MM:SS`."""
    values: dict[str, Any] = {}
    for name in fields:
        if is_secret_field(name):
            continue
        field = obj._meta.get_field(name)
        if field.many_to_many:
            if obj.pk is None:
                values[name] = []
                continue
            related = getattr(obj, name).all()
            if field.related_model is Permission:
                related = related.select_related("content_type")
            values[name] = sorted(_related_label(member) for member in related)
        elif field.is_relation:
            member = getattr(obj, name)
            values[name] = _related_label(member) if member is not None else None
        else:
            values[name] = _plain(field.value_from_object(obj))
    return values


def stored_snapshot(obj: models.Model, fields: Sequence[str]) -> dict[str, Any] | None:
    """The snapshot of `obj` as the database holds it now, before an edit in hand is saved
    (an admin form has already written its values onto the instance)."""
    if obj.pk is None:
        return None
    stored = type(obj)._base_manager.filter(pk=obj.pk).first()
    return snapshot(stored, fields) if stored is not None else None
