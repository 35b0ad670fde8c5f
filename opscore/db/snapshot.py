"""One consistent read of several tables, however long it takes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection, transaction


@contextlib.contextmanager
def read_snapshot() -> Iterator[None]:
    """On PostgreSQL, a read-only REPEATABLE READ transaction: every query inside sees the
    same committed state (the log and the tables at one instant), and `.iterator()` reads
    through server-side cursors chunk by chunk (outside a transaction Django declares them
    WITH HOLD, and the server copies the whole result before the first row).

    Inside a caller's transaction, or on SQLite (whose transactions here take the write lock
    at BEGIN), queries run as they are.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield
