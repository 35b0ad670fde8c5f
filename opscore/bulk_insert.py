"""Many new rows of one model in one INSERT, for a fraction of `QuerySet.bulk_create`'s CPU.

`bulk_create` prepares every value of every row through its compiler's layers, and on
PostgreSQL sends each column as an array (`UNNEST`) whose JSON values psycopg escapes into an
array literal with a regular expression, character by character: for an ingestion batch that
was most of the web worker's time. Here each value goes through the field's own
`pre_save` and `get_db_prep_save` (so defaults, `auto_now` and JSON encoding are the
model's; `opscore.prepared_values` skips Django's layers where they return the value
itself), into one `INSERT ... VALUES (...), (...) RETURNING <pk>` whose generated keys are
set on the objects, as `bulk_create` sets them. On PostgreSQL its placeholders are numbered
and its values bound on the server (`opscore.numbered_sql`). No signals are sent, as with
`bulk_create`. The caller's transaction holds it; a constraint violation raises Django's
`IntegrityError`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

from opscore.numbered_sql import numbered_cursor, placeholder, placeholder_rows
from opscore.prepared_values import preparers

# PostgreSQL's protocol counts bind parameters in 16 bits.
_POSTGRESQL_MAX_PARAMS = 65535


def insert_rows(objs: Sequence[Model]) -> None:
    """Insert `objs` (new instances of one model) and set their generated primary keys."""
    if not objs:
        return
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    pk = model._meta.pk
    generated_pk = pk.db_returning and getattr(objs[0], pk.attname) is None
    if generated_pk and not connection.features.can_return_rows_from_bulk_insert:
        model._base_manager.using(alias).bulk_create(objs)
        return
    fields = _columns(model, without_pk=generated_pk)
    returning = f" RETURNING {connection.ops.quote_name(pk.column)}" if generated_pk else ""
    per_statement = max(1, _max_params(connection) // len(fields))
    with numbered_cursor(connection) as cursor:
        for start in range(0, len(objs), per_statement):
            chunk = objs[start : start + per_statement]
            cursor.execute(
                _insert_sql(connection, model, fields, rows=len(chunk)) + returning,
                _values(connection, fields, chunk),
            )
            if generated_pk:
                # Rows come back in VALUES order, which bulk_create relies on as well.
                for obj, (key,) in zip(chunk, cursor.fetchall(), strict=True):
                    setattr(obj, pk.attname, key)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias


def insert_unless_taken(obj: Model) -> bool:
    """Insert `obj` (a new row whose primary key the database generates) unless a row already
    holds its value of a unique column: True with its key set, or False with nothing written.

    `INSERT ... ON CONFLICT DO NOTHING RETURNING <pk>`, the same statement on PostgreSQL and
    SQLite: the expected duplicate is not a refused statement, so PostgreSQL logs no ERROR for
    it and a caller's transaction stays usable without a savepoint.
    """
    model = type(obj)
    alias = router.db_for_write(model)
    connection = connections[alias]
    pk = model._meta.pk
    fields = _columns(model, without_pk=True)
    with numbered_cursor(connection) as cursor:
        cursor.execute(
            _insert_sql(connection, model, fields, rows=1)
            + f" ON CONFLICT DO NOTHING RETURNING {connection.ops.quote_name(pk.column)}",
            _values(connection, fields, [obj]),
        )
        row = cursor.fetchone()
    if row is None:
        return False
    setattr(obj, pk.attname, row[0])
    obj._state.adding = False
    obj._state.db = alias
    return True


def insert_statement(connection: BaseDatabaseWrapper, objs: Sequence[Model]) -> tuple[str, list]:
    """The one INSERT of `objs` (new rows of one model, keys given) and its values, as
    `insert_rows` writes it, for a caller that runs it inside a larger statement (the log's
    chain write, in a WITH). Its placeholders take the statement's first parameters."""
    model = type(objs[0])
    fields = _columns(model, without_pk=False)
    return _insert_sql(connection, model, fields, rows=len(objs)), _values(connection, fields, objs)


def _max_params(connection) -> int:
    if connection.vendor == "postgresql":
        return _POSTGRESQL_MAX_PARAMS
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        # Django assumes SQLite's historical 999; the library in use states its own limit.
        return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return connection.features.max_query_params or 999


def _columns(model: type[Model], *, without_pk: bool) -> list[Field]:
    """The columns an INSERT of `model` writes: all but generated ones (and the key when the
    database generates it)."""
    pk = model._meta.pk
    return [
        field
        for field in model._meta.concrete_fields
        if not field.generated and not (without_pk and field is pk)
    ]


def _insert_sql(
    connection: BaseDatabaseWrapper, model: type[Model], fields: list[Field], *, rows: int
) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    # The model's own table and columns, and placeholders: nothing from the caller.
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "  # noqa: S608
        f"VALUES {placeholder_rows(connection, width=len(fields), count=rows)}"
    )


def _values(connection: BaseDatabaseWrapper, fields: list[Field], objs: Sequence[Model]) -> list:
    """Each object's value of each field, row after row, as the database takes it."""
    prepared = list(zip(fields, preparers(connection, fields), strict=True))
    return [
        prepare(field.pre_save(obj, add=True), connection)
        for obj in objs
        for field, prepare in prepared
    ]


def insert_with_follower(
    obj: Model, *, follower: Callable[[Model], Model], key_attnames: Sequence[str]
) -> Model:
    """Insert `obj` (a new row whose primary key the database generates) and the row
    `follower(obj)` builds, which repeats that key in its fields `key_attnames` (a history
    row, say), and return the follower, both saved as `insert_rows` saves them.

    On PostgreSQL this is one statement: the follower's key columns read the key the first
    INSERT returns, in a data-modifying WITH, its placeholders numbered as `insert_rows`'s.
    Elsewhere it is `insert_rows` twice. `follower` is called once `obj`'s values are
    prepared (defaults, `auto_now` set) but before it has its key: the key fields of what it
    returns are filled in afterwards.
    """
    model = type(obj)
    alias = router.db_for_write(model)
    connection = connections[alias]
    pk = model._meta.pk
    if connection.vendor != "postgresql" or getattr(obj, pk.attname) is not None:
        insert_rows([obj])
        row = follower(obj)
        insert_rows([row])
        return row
    fields = _columns(model, without_pk=True)
    values = _values(connection, fields, [obj])
    row = follower(obj)
    row_opts = row._meta
    row_pk = row_opts.pk
    row_fields = [
        field
        for field in row_opts.concrete_fields
        if not field.generated and not (field is row_pk and getattr(row, field.attname) is None)
    ]
    quote = connection.ops.quote_name
    placeholders = []
    row_values = []
    for field, prepare in zip(row_fields, preparers(connection, row_fields), strict=True):
        if field.attname in key_attnames:
            placeholders.append(f"(SELECT {quote(pk.column)} FROM inserted)")  # noqa: S608
        else:
            row_values.append(prepare(field.pre_save(row, add=True), connection))
            placeholders.append(placeholder(connection, len(values) + len(row_values)))
    row_key_column = row_opts.get_field(key_attnames[0]).column
    returning = [quote(row_key_column)]
    if row_pk not in row_fields:
        returning.append(quote(row_pk.column))
    # Both models' own tables and columns, and placeholders: nothing from the caller.
    sql = (
        f"WITH inserted AS ({_insert_sql(connection, model, fields, rows=1)} "  # noqa: S608
        f"RETURNING {quote(pk.column)}) "
        f"INSERT INTO {quote(row_opts.db_table)} "
        f"({', '.join(quote(field.column) for field in row_fields)}) "
        f"VALUES ({', '.join(placeholders)}) RETURNING {', '.join(returning)}"
    )
    with numbered_cursor(connection) as cursor:
        cursor.execute(sql, [*values, *row_values])
        key, *row_key = cursor.fetchone()
    setattr(obj, pk.attname, key)
    for attname in key_attnames:
        setattr(row, attname, key)
    if row_key:
        setattr(row, row_pk.attname, row_key[0])
    for saved in (obj, row):
        saved._state.adding = False
        saved._state.db = alias
    return row
