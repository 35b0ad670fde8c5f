"""A field's value as the database takes it, without Django's layers where that is the value.

`Field.get_db_prep_save` runs every value through three or four methods (expression check,
lazy-string check, `to_python`, the backend's adapter). For a multi-row INSERT of a batch that
was a fifth of the web worker's CPU, and on PostgreSQL most of those values come out as they
went in: a `str` for a text column, an aware `datetime`, a `UUID`, a `bool`, `None`, a key's
`int`; an `int` for an integer column comes out in psycopg's wrapper for the column's size.
For exactly those field classes and value types the value is passed so; any other value,
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
    # A surrogate key's value is sent as the int it is.
    models.AutoField: int,
    models.BigAutoField: int,
    models.SmallAutoField: int,
}
_INTEGER_FIELDS = (
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveBigIntegerField,
    models.PositiveSmallIntegerField,
)


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
    from django.db.backends.postgresql.operations import DatabaseOperations

    prepare = field.get_db_prep_save
    if type(field) in (models.ForeignKey, models.OneToOneField):
        # Django's own answer for a key that is not None or "" is its target field's.
        prepare_target = _postgresql_preparer(field.target_field)

        def prepared_key(value: Any, connection: BaseDatabaseWrapper) -> Any:
            if value is None or value == "":
                return prepare(value, connection)
            return prepare_target(value, connection)

        return prepared_key
    # Integers go to psycopg typed by the column (Int4 for an IntegerField, say).
    typed_integer = (
        DatabaseOperations.integerfield_type_map.get(field.get_internal_type())
        if type(field) in _INTEGER_FIELDS
        else None
    )
    if typed_integer is not None:

        def prepared_integer(value: Any, connection: BaseDatabaseWrapper) -> Any:
            if type(value) is int:
                return typed_integer(value)
            return prepare(value, connection)

        return prepared_integer
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
