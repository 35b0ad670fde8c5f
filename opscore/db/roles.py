"""Least privilege on PostgreSQL: an owner role for the schema, a runtime role for the app.

Only a table's owner (or a superuser) can ALTER it, disable or drop its triggers, or drop it.
So the schema belongs to an owner role that only `migrate` (and `createcachetable`) log in
as, through `OPSCORE_MIGRATION_DATABASE_URL`; web processes and workers log in as a runtime
role (`DATABASE_URL`) that holds SELECT, INSERT, UPDATE and DELETE on the tables and nothing
else: the append-only triggers of the audit log stand against it. Default privileges grant
those rights on every table the owner creates later, so a new migration needs no grant.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg import sql

_CREDENTIALS = ("USER", "PASSWORD")


@contextmanager
def connected_as_owner(alias: str = "default") -> Iterator[bool]:
    """Within the block, `alias` logs in as the owner role, if one is configured.

    Only the credentials change: the database is the one `alias` names (pytest-django's test
    database included). Yields whether the owner is in use.
    """
    owner = settings.OPSCORE_MIGRATION_DATABASE
    connection = connections[alias]
    if owner is None or alias != "default" or connection.vendor != "postgresql":
        yield False
        return
    saved = {key: connection.settings_dict.get(key) for key in _CREDENTIALS}
    connection.close()
    connection.settings_dict.update({key: owner.get(key) or "" for key in _CREDENTIALS})
    try:
        yield True
    finally:
        connection.close()
        connection.settings_dict.update(saved)


def _role_exists(cursor, name: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
    return cursor.fetchone() is not None


def create_roles_and_grants(
    connection: BaseDatabaseWrapper,
    *,
    owner: str,
    runtime: str,
    owner_password: str = "",
    runtime_password: str = "",
    adopt_existing: bool = False,
) -> list[str]:
    """Create (or update) both roles and their rights on this database; idempotent.

    Run as a superuser (or a role with CREATEROLE that may act for the owner). With
    `adopt_existing` every table, view, sequence and function of the public schema is handed
    to the owner first: a database migrated before by another role. Returns what was done.
    """
    if connection.vendor != "postgresql":
        raise ValueError("database roles are a PostgreSQL matter; SQLite has none")
    if owner == runtime:
        raise ValueError("the owner and runtime roles must be two roles")
    done: list[str] = []
    database = sql.Identifier(connection.settings_dict["NAME"])
    owner_id, runtime_id = sql.Identifier(owner), sql.Identifier(runtime)
    with connection.cursor() as cursor:
        for name, ident, password in (
            (owner, owner_id, owner_password),
            (runtime, runtime_id, runtime_password),
        ):
            if not _role_exists(cursor, name):
                cursor.execute(
                    sql.SQL(
                        "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"
                    ).format(ident)
                )
                done.append(f"created role {name}")
            if password:
                cursor.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(ident, sql.Literal(password))
                )
                done.append(f"set the password of {name}")
        statements = [
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}, {}").format(
                database, owner_id, runtime_id
            ),
            # PostgreSQL 15 no longer lets everyone create in public; older ones did.
            sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"),
            sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(owner_id),
            sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(runtime_id),
            sql.SQL(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public "
                "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
            ).format(owner_id, runtime_id),
            sql.SQL(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public "
                "GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {}"
            ).format(owner_id, runtime_id),
        ]
        for statement in statements:
            cursor.execute(statement)
        done.append(f"{owner} may create in schema public; {runtime} may only use it")
        done.append(f"tables {owner} creates are granted to {runtime} (default privileges)")
        if adopt_existing:
            done.extend(_adopt(cursor, owner=owner))
        cursor.execute(
            sql.SQL(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}"
            ).format(runtime_id)
        )
        cursor.execute(
            sql.SQL("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {}").format(
                runtime_id
            )
        )
        done.append(f"existing tables and sequences granted to {runtime}")
    return done


def _adopt(cursor, *, owner: str) -> list[str]:
    owner_id = sql.Identifier(owner)
    # Tables carry their identity and serial sequences with them; views and loose
    # sequences are handed over one by one.
    cursor.execute(
        """
        SELECT c.relname, c.relkind FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND pg_get_userbyid(c.relowner) <> %s
          AND NOT (c.relkind = 'S' AND EXISTS (
              SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
        ORDER BY c.relkind DESC
        """,
        [owner],
    )
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
    relations = cursor.fetchall()
    for name, kind in relations:
        cursor.execute(
            sql.SQL("ALTER {} public.{} OWNER TO {}").format(
                sql.SQL(kinds[kind]), sql.Identifier(name), owner_id
            )
        )
    cursor.execute(
        """
        SELECT p.oid::regprocedure::text FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> %s
        """,
        [owner],
    )
    functions = [row[0] for row in cursor.fetchall()]
    for signature in functions:
        cursor.execute(
            sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(sql.SQL(signature), owner_id)
        )
    return [f"{len(relations)} relations and {len(functions)} functions handed to {owner}"]
