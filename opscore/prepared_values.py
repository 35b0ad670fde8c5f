"""A field's value as the database takes it, without Django's layers where that is the value.

`Field.get_db_prep_save` runs every value through three or four methods (expression check,
lazy-string check, `to_python`, the backend's adapter). For a multi-row INSERT of a batch that
was a fifth of the web worker's CPU, and on PostgreSQL most of those values come out as they
went in: a `str` for a text column, an aware `datetime`, a `UUID`, a `bool`, `None`. For
exactly those field classes and value types the value is passed as it is; any other value,
and every field of another class (a subclass included), goes through `get_db_prep_save`.
`tests/opscore/test_prepared_values.py` checks each shortcut against Django's own answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

Preparer = Callable[[Any, BaseDatabaseWrapper], Any]

# On PostgreSQL, get_db_prep_save returns a value of these exact types (and None) unchanged.
_UNCHANGED_ON_POSTGRESQL: dict[type[models.Field], type] = {
    models.CharField: str,
    models.SlugField: str,
    models.TextField: str,
    models.UUIDField: uuid.UUID,
    models.BooleanField: bool,
}


def preparers(connection: BaseDatabaseWrapper, fields: Sequence[models.Field]) -> list[Preparer]:
    """For each of `fields`, a function of (value, connection) that returns what the field's
    `get_db_prep_save` returns."""
    return list(_preparers(connection.vendor == "postgresql", tuple(fields)))


@lru_cache(maxsize=128)
def _preparers(postgresql: bool, fields: tuple[models.Field, ...]) -> tuple[Preparer, ...]:
    if not postgresql:
        return tuple(field.get_db_prep_save for field in fields)
    return tuple(_postgresql_preparer(field) for field in fields)


def _postgresql_preparer(field: models.Field) -> Preparer:
    prepare = field.get_db_prep_save
    if type(field) is models.DateTimeField:

        def prepared_datetime(value: Any, connection: BaseDatabaseWrapper) -> Any:
            # A naive datetime gets Django's warning and the default time zone.
            if type(value) is datetime and value.utcoffset() is not None:
                return value
            return prepare(value, connection)

        return prepared_datetime
    unchanged = _UNCHANGED_ON_POSTGRESQL.get(type(field))
    if unchanged is None:
        return prepare

    def prepared(value: Any, connection: BaseDatabaseWrapper) -> Any:
        if value is None or type(value) is unchanged:
            return value
        return prepare(value, connection)

    return prepared
