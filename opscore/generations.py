"""Generation rows: one value per per-process cache, changed by database triggers on any write
to the tables that cache copies, so the cache is checked with one primary-key read.

A generation table holds one row (id 1). Triggers set a new value on every INSERT, DELETE
and watched UPDATE of the watched tables, whoever writes (admin, services, bulk updates, raw
SQL). A cache reads the generation before the rows it guards, so a change committed in
between leaves rows newer than their tag, never older, and drops what it holds when the
value moved. PostgreSQL takes the values from a sequence (never rolled back, never seen
twice); SQLite from random(). Used by integrations' lookups and decisions' published
versions; each app creates its table and triggers in a migration with `trigger_statements`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from django.db import connection

# (table, the UPDATE columns that matter to the cache; None: any column)
Watched = Sequence[tuple[str, Sequence[str] | None]]


def read_generation(*, table: str) -> int:
    """The table's current value; a missing row (an emptied test database) is put back with
    a fresh one."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT value FROM {table} WHERE id = 1")  # noqa: S608 - constant
        row = cursor.fetchone()
        if row is None:
            cursor.execute(
                f"INSERT INTO {table} (id, value) VALUES (1, %s) "  # noqa: S608 - constant
                "ON CONFLICT (id) DO NOTHING",
                [secrets.randbits(62)],
            )
            cursor.execute(f"SELECT value FROM {table} WHERE id = 1")  # noqa: S608
            row = cursor.fetchone()
    return row[0]


def trigger_statements(
    *, vendor: str, table: str, prefix: str, watched: Watched, install: bool
) -> list[str]:
    """SQL that installs (or removes) the triggers moving `table` on writes to `watched`.

    `prefix` names the sequence, the function and the triggers (`<watched table>_<prefix>`).
    Installing also writes the row's first value."""
    if vendor == "postgresql":
        statements = _postgres(table=table, prefix=prefix, watched=watched, install=install)
    else:
        statements = _sqlite(table=table, prefix=prefix, watched=watched, install=install)
    if install:
        statements.append(f"INSERT INTO {table} (id, value) VALUES (1, 1)")  # noqa: S608 - constant
    return statements


def _update_event(columns: Sequence[str] | None) -> str:
    return f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"


def _postgres(*, table: str, prefix: str, watched: Watched, install: bool) -> list[str]:
    sequence, function = f"{prefix}_generation_seq", f"{prefix}_bump_generation"
    if not install:
        return [
            *(f"DROP TRIGGER IF EXISTS {name}_{prefix} ON {name}" for name, _ in watched),
            f"DROP FUNCTION IF EXISTS {function}()",
            f"DROP SEQUENCE IF EXISTS {sequence}",
        ]
    statements = [
        f"CREATE SEQUENCE {sequence}",
        f"""CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE {table} SET value = nextval('{sequence}') WHERE id = 1;
            RETURN NULL;
        END
        $$""",  # noqa: S608 - names from the migration
    ]
    for name, columns in watched:
        statements.append(
            f"CREATE TRIGGER {name}_{prefix} AFTER INSERT OR DELETE OR {_update_event(columns)} "
            f"ON {name} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    return statements


def _sqlite(*, table: str, prefix: str, watched: Watched, install: bool) -> list[str]:
    statements = []
    for name, columns in watched:
        for event in ("INSERT", "DELETE", _update_event(columns)):
            trigger = f"{name}_{prefix}_{event.split()[0].lower()}"
            if install:
                statements.append(
                    f"CREATE TRIGGER {trigger} AFTER {event} ON {name} "  # noqa: S608 - names
                    f"BEGIN UPDATE {table} SET value = abs(random()) WHERE id = 1; END"
                )
            else:
                statements.append(f"DROP TRIGGER IF EXISTS {trigger}")
    return statements
