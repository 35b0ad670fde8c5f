"""Database triggers that make audit_event append-only on every supported backend.

The guard lives in the database, not in Django, so raw SQL, a shell or another
application cannot update or delete a recorded event either.
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "audit_event"

_POSTGRES_INSTALL = [
    f"""
    CREATE OR REPLACE FUNCTION {TABLE}_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{TABLE} is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    f"""CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION {TABLE}_refuse_change()""",
    f"""CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION {TABLE}_refuse_change()""",
    f"""CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
        FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_refuse_change()""",
]
_POSTGRES_REMOVE = [
    f"DROP TRIGGER IF EXISTS {TABLE}_no_update ON {TABLE}",
    f"DROP TRIGGER IF EXISTS {TABLE}_no_delete ON {TABLE}",
    f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}",
    f"DROP FUNCTION IF EXISTS {TABLE}_refuse_change()",
]
_SQLITE_INSTALL = [
    f"""CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: UPDATE refused'); END""",
    f"""CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: DELETE refused'); END""",
]
_SQLITE_REMOVE = [
    f"DROP TRIGGER IF EXISTS {TABLE}_no_update",
    f"DROP TRIGGER IF EXISTS {TABLE}_no_delete",
]


class UnsupportedBackend(RuntimeError):
    pass


def _statements(connection: BaseDatabaseWrapper, *, install: bool) -> list[str]:
    if connection.vendor == "postgresql":
        return _POSTGRES_INSTALL if install else _POSTGRES_REMOVE
    if connection.vendor == "sqlite":
        return _SQLITE_INSTALL if install else _SQLITE_REMOVE
    raise UnsupportedBackend(
        f"opscore keeps its audit log append-only on PostgreSQL and SQLite, not {connection.vendor}"
    )


def install_append_only_guards(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in _statements(connection, install=True):
            cursor.execute(statement)


def remove_append_only_guards(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in _statements(connection, install=False):
            cursor.execute(statement)


# Rights the runtime role never needs on the log: with the triggers it could not use them
# anyway; without them in its grant, a lifted trigger would still not let it rewrite. The
# chain head is updated on every append, but never deleted or emptied.
_REVOKED = {
    TABLE: ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES"),
    "audit_chain_head": ("DELETE", "TRUNCATE", "TRIGGER", "REFERENCES"),
}


def revoke_event_rewrites(connection: BaseDatabaseWrapper) -> list[str]:
    """Take rewriting rights on the log back from every role but its tables' owner.

    PostgreSQL only; run by `migrate` (as the owner, after default privileges granted the
    runtime role everything on a new table) and by `setup_db_roles`. Returns what it revoked.
    """
    if connection.vendor != "postgresql":
        return []
    revoked = []
    with connection.cursor() as cursor:
        for table, privileges in _REVOKED.items():
            cursor.execute(
                """
                SELECT DISTINCT pg_get_userbyid(acl.grantee)
                FROM pg_class c, aclexplode(c.relacl) acl
                WHERE c.oid = to_regclass(%s) AND acl.grantee <> c.relowner
                  AND acl.grantee <> 0 AND acl.privilege_type = ANY(%s)
                """,
                [table, list(privileges)],
            )
            for (role,) in cursor.fetchall():
                cursor.execute(
                    f"REVOKE {', '.join(privileges)} ON {table} FROM "
                    f"{connection.ops.quote_name(role)}"
                )
                revoked.append(f"{table}: {', '.join(privileges)} revoked from {role}")
    return revoked
