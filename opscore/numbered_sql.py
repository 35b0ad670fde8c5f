"""Long statements with numbered placeholders, which psycopg sends without parsing them.

Django's PostgreSQL cursors bind on the client: psycopg splits every statement at its `%s`
placeholders with a regular expression and quotes each value into the text. It keeps the
split only for statements under 4,096 characters and 50 parameters, so a multi-row INSERT of
a batch (thousands of placeholders) was split again on every call, a fifth of the web
worker's CPU for a batched event. psycopg's `RawCursor` takes PostgreSQL's own `$1, $2`
placeholders and sends the values beside the statement (server-side binding): nothing to
split, nothing to quote. On SQLite, statements keep Django's `%s`.

The cursor is wrapped as Django wraps its own (database errors become Django's, execute
wrappers run, and the statement is logged where queries are: `assertNumQueries` still counts
it), on the connection's open transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper


def uses_numbered_placeholders(connection: BaseDatabaseWrapper) -> bool:
    return connection.vendor == "postgresql"


@lru_cache(maxsize=256)
def _numbered_rows(width: int, count: int) -> str:
    return ", ".join(
        "(" + ", ".join(f"${n}" for n in range(first, first + width)) + ")"
        for first in range(1, width * count + 1, width)
    )


@lru_cache(maxsize=256)
def _format_rows(width: int, count: int) -> str:
    return ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * count)


def placeholder_rows(connection: BaseDatabaseWrapper, *, width: int, count: int) -> str:
    """`count` parenthesised rows of `width` placeholders, for a VALUES list that takes the
    statement's first parameters ($1 on PostgreSQL)."""
    if uses_numbered_placeholders(connection):
        return _numbered_rows(width, count)
    return _format_rows(width, count)


def placeholder(connection: BaseDatabaseWrapper, number: int) -> str:
    """The placeholder of the `number`th parameter (from 1)."""
    return f"${number}" if uses_numbered_placeholders(connection) else "%s"


@contextmanager
def numbered_cursor(connection: BaseDatabaseWrapper) -> Iterator[CursorWrapper]:
    """A cursor for statements written with `placeholder` and `placeholder_rows`."""
    if not uses_numbered_placeholders(connection):
        with connection.cursor() as cursor:
            yield cursor
        return
    import psycopg

    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = psycopg.RawCursor(connection.connection)
    cursor = (
        connection.make_debug_cursor(raw)
        if connection.queries_logged
        else connection.make_cursor(raw)
    )
    with cursor:
        yield cursor
